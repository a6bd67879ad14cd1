import { fileURLToPath } from 'node:url'

/** The read-only shared assets next to the repository (never copied into it). */
export const backbonesDir = fileURLToPath(new URL('../../../shared/backbones/', import.meta.url))
export const v2Dir = `${backbonesDir}mobilenet_v2_0.35_224`
export const classifierDir = `${backbonesDir}mobilenet_v1_0.75_224_imagenet_classifier`
export const catJpg = `${backbonesDir}test_images/cat.jpg`
export const daisyJpg = `${backbonesDir}test_images/daisy.jpg`
