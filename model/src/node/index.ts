export { writeFileAtomic } from './atomic-write.ts'
export { loadBackbone, readBackboneFolder } from './backbone-folder.ts'
export { type BackendChoice, initBackend } from './backend.ts'
export { DataFolderError, DataLayoutError, shownProblems } from './data-folder-error.ts'
export { decodeImage } from './decode-image.ts'
export {
  backboneCacheDir,
  downloadBackbone,
  type FetchUrl,
  fetchBackboneFromUrl,
  readBackboneUrl,
} from './download-backbone.ts'
export { embedFolder, type SkippedFile } from './embed-folder.ts'
export { embeddingCacheDir, viewsKey } from './embedding-cache.ts'
export { readFloat32File } from './float32-file.ts'
export { ImageError } from './image-error.ts'
export { embedLabelledSet, missingLabelWarning, perLabel } from './labelled-set.ts'
export { loadModelFolder, MODEL_CARD_FILE } from './model-folder.ts'
export { progressBar, progressTo } from './progress-bar.ts'
export { type ScannedFolder, scanImageFolder } from './scan-image-folder.ts'
export { MAX_LABELS_FILE_BYTES } from './scan-labels-file.ts'
export { sha256Hex } from './sha256.ts'
export { isBackboneUrl, loadTaskBackbone, readBackboneSource } from './task-backbone.ts'
