import { useState } from 'preact/hooks'
import { send } from './api.ts'
import type { Ui } from './ui.ts'

/** Submits a task file (POST /api/tasks); a file with errors lists every one of them (NoticeBar). */
export function TaskUpload({ ui }: { ui: Ui }) {
  const [file, setFile] = useState<File | null>(null)
  return (
    <form
      class="upload"
      onSubmit={(e) => {
        e.preventDefault()
        if (file === null) return ui.refused('expected a task file (JSON) to submit; none is chosen')
        ui.confirm(
          {
            title: 'Submit a task file',
            text: `Submit ${file.name} (${file.size} bytes) as a task? A task with an unfinished run keeps its file.`,
            confirm: 'Submit',
          },
          async () => {
            const answer = await send<{ task: string; outcome: string }>(
              'POST',
              '/api/tasks',
              await file.text(),
            )
            return `task "${answer.task}": ${answer.outcome}`
          },
        )
      }}
    >
      <label>
        Task file
        <input
          type="file"
          name="task-file"
          accept="application/json,.json"
          onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)}
        />
      </label>
      <button type="submit">Submit task…</button>
    </form>
  )
}
