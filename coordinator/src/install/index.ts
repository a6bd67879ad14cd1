export type { InstallLayout } from './install-layout.ts'
export { installLayout } from './layout.ts'
export { fedtuneVersion } from './version.ts'
