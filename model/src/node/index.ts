export { writeFileAtomic } from './atomic-write.ts'
export { loadBackbone, readBackboneFolder } from './backbone-folder.ts'
export { type BackendChoice, initBackend } from './backend.ts'
export { decodeImage } from './decode-image.ts'
export {
  backboneCacheDir,
  downloadBackbone,
  type FetchUrl,
  fetchBackboneFromUrl,
} from './download-backbone.ts'
export { embedFolder } from './embed-folder.ts'
export { readFloat32File } from './float32-file.ts'
export { ImageError } from './image-error.ts'
export { loadModelFolder, MODEL_CARD_FILE } from './model-folder.ts'
export { progressBar, progressTo } from './progress-bar.ts'
export { scanImageFolder } from './scan-image-folder.ts'
export { sha256Hex } from './sha256.ts'
