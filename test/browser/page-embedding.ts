// The volunteer page's embedding code (client-web/src/embedding.ts and backbone loading), bundled on
// its own by volunteer-embedding.test.ts and run in headless Chromium on images and a backbone the
// test serves. Page code: type-checked with the DOM by client-web/tsconfig.json, not the root's.
import { backboneFromArtifacts, parseModelJson, verifiedFilesHandler } from '@fedtune/model'
import { embedImages, initEmbeddingBackend } from '../../client-web/src/embedding.ts'
import type { PageEmbeddings, PageInput } from './page-embedding-input.ts'

async function bytesOf(path: string): Promise<Uint8Array<ArrayBuffer>> {
  const response = await fetch(path)
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`)
  return new Uint8Array(await response.arrayBuffer())
}

export async function embedInPage(input: PageInput): Promise<PageEmbeddings> {
  const { backend } = await initEmbeddingBackend(input.backend)
  const files = new Map<string, Uint8Array<ArrayBuffer>>()
  for (const name of input.backboneFiles) files.set(name, await bytesOf(`/backbone/${name}`))
  const { json } = parseModelJson(files.get('model.json') as Uint8Array, 'backbone model.json')
  const backbone = await backboneFromArtifacts(await verifiedFilesHandler(json, files).load())
  try {
    const images = await Promise.all(
      input.images.map(
        async (name) => ({ file: new File([await bytesOf(`/images/${name}`)], name), label: 0 }) as const,
      ),
    )
    const data = await embedImages(backbone, input.views, images, () => {}, new AbortController().signal)
    return { backend, dim: data.dim, x: Array.from(data.x) }
  } finally {
    backbone.dispose()
  }
}
