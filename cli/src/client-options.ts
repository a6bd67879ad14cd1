import type { OptionTable } from './client-config.ts'

/**
 * Every option of `fedtune client`, the one table the command line and the config file are read
 * with (client-config.ts): an option added here works in the file too; mark a file or folder
 * `path: true` so that a file's relative path is read from the file's folder.
 */
export const CLIENT_OPTIONS = {
  config: { type: 'string', notInFile: 'a config file cannot name another config file' },
  check: { type: 'boolean', notInFile: 'a check is asked for on the command line (fedtune client --check)' },
  'log-format': { type: 'string' },
  coordinator: { type: 'string' },
  data: { type: 'string', path: true },
  labels: { type: 'string', path: true },
  cache: { type: 'string', path: true },
  name: { type: 'string' },
  task: { type: 'string' },
  invite: {
    type: 'string',
    notInFile:
      'the enrolment code is a secret and stays out of the config file: set FEDTUNE_INVITE in the environment (systemd: EnvironmentFile=), or name a file readable by this user only with "invite-file"',
  },
  'invite-file': { type: 'string', path: true },
  'val-fraction': { type: 'string' },
  'allow-plaintext': { type: 'boolean' },
  audit: { type: 'string', path: true },
  ca: { type: 'string', path: true },
  'pin-sha256': { type: 'string' },
  proxy: { type: 'string' },
  help: { type: 'boolean', short: 'h', notInFile: 'for the command line only' },
} as const satisfies OptionTable
