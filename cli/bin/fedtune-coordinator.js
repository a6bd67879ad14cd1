#!/usr/bin/env node
// `fedtune coordinator` under its own name. Runs the TypeScript sources directly (no build step):
// tsx registers its ESM loader first.
import { register } from 'tsx/esm/api'

register()
const { runCoordinatorCommand } = await import('../src/coordinator-command.ts')
// Exit explicitly: a finished run must not linger on an idle timer or a reconnect attempt.
process.exit(await runCoordinatorCommand(process.argv.slice(2)))
