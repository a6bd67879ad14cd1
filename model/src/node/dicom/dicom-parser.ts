import { createRequire } from 'node:module'

/**
 * dicom-parser (Cornerstone's Part 10 parser) is a UMD bundle whose exports Node's ESM loader
 * cannot see by name, so it is required; its own type declarations still apply.
 */
export const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser')
