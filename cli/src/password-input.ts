import { CommandError, type CommandIo } from './command-io.ts'

/** Everything on stdin, less one trailing newline: `printf '%s\n' "$PW" | fedtune … --password-stdin`. */
export async function passwordFromStdin(io: CommandIo): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)))
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

/**
 * A password typed at the terminal, never echoed: stdin in raw mode, read up to Enter (Backspace
 * edits, Ctrl-C and Ctrl-D give up). The prompt goes to stderr, so stdout stays the command's output.
 */
export async function promptPassword(io: CommandIo, prompt: string): Promise<string> {
  const stdin = io.stdin
  if (stdin.isTTY !== true || stdin.setRawMode === undefined)
    throw new CommandError('no terminal to ask for the password on: pipe it in with --password-stdin', 2)
  io.stderr(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = ''
      const onData = (data: Buffer | string) => {
        for (const char of String(data)) {
          if (char === '\r' || char === '\n') {
            stdin.off('data', onData)
            io.stderr('\n')
            return resolve(typed)
          }
          if (char === '\u0003' || char === '\u0004') {
            stdin.off('data', onData)
            io.stderr('\n')
            return reject(new CommandError('no password given'))
          }
          if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('')
          else typed += char
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
  }
}
