#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step): tsx registers its ESM loader first.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/main.ts')
// Exit explicitly: a finished run must not linger on an idle timer or a reconnect attempt.
process.exit(await main(process.argv.slice(2)))
