/**
 * A progress indicator for long steps (embedding, downloads). On a terminal it redraws one bar
 * in place; in a log (not a TTY) it prints a line at most every ~10% so logs stay readable.
 */
export function progressBar(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): { tick(n?: number, note?: string): void; done(note?: string): void } {
  const started = Date.now()
  const tty = stream.isTTY === true
  let count = 0
  let lastDecile = -1
  let lastDraw = 0
  let finished = false

  const line = (note?: string): string => {
    const fraction = total > 0 ? Math.min(1, count / total) : 1
    const seconds = (Date.now() - started) / 1000
    const rate = seconds > 0 ? count / seconds : 0
    const eta = rate > 0 && total > count ? ` eta ${formatSeconds((total - count) / rate)}` : ''
    const suffix = note ? ` ${note}` : ''
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
    if (!tty) return `${label} ${count}/${total} ${percent}${eta}${suffix}`
    const width = 24
    const filled = Math.round(fraction * width)
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}/${total} ${percent}${eta}${suffix}`
  }

  return {
    tick(n = 1, note) {
      if (finished) return
      count += n
      if (tty) {
        const now = Date.now()
        // Redrawing more than ~10 times a second only costs time.
        if (now - lastDraw < 100 && count < total) return
        lastDraw = now
        stream.write(`\r${line(note)}\x1b[K`)
        return
      }
      const decile = total > 0 ? Math.floor((count / total) * 10) : 10
      if (decile > lastDecile && decile < 10) {
        lastDecile = decile
        stream.write(`${line(note)}\n`)
      }
    },
    done(note) {
      if (finished) return
      finished = true
      const took = formatSeconds((Date.now() - started) / 1000)
      stream.write(`${tty ? '\r' : ''}${line(note ? `${note}, ${took}` : took)}${tty ? '\x1b[K' : ''}\n`)
    },
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  return `${m} min ${Math.round(s - m * 60)} s`
}

/**
 * A bar for work whose size is known only once it starts (an image folder, a download): feed it
 * `(done, total)` as reported and it draws the bar from the first report on. `stream` undefined
 * draws nothing (a quiet client, a test).
 */
export function progressTo(
  label: string,
  stream: NodeJS.WriteStream | undefined,
): { update(done: number, total: number, note?: string): void; done(note?: string): void } {
  let bar: ReturnType<typeof progressBar> | undefined
  let reported = 0
  return {
    update(done, total, note) {
      if (stream === undefined) return
      bar ??= progressBar(label, total, stream)
      bar.tick(done - reported, note)
      reported = done
    },
    done(note) {
      bar?.done(note)
    },
  }
}
