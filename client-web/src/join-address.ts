import { INVITE_CODE, type ReceivedRefusalCode, TASK_NAME } from '@fedtune/protocol'

/**
 * What the volunteers' page reads from its own address: the task from its path (`/join/<task>`, the
 * coordinator's only open task at `/join`) and an enrolment code from `?invite=` (an invite link).
 * Pure, so that the page's decisions are tested without a browser.
 */
export type JoinAddress = { readonly task: string | undefined; readonly invite: string | undefined }

/** Where the page is served (vite.config.ts `base`, coordinator/src/web-page.ts). */
const JOIN = '/join'

/** The page's task and invite code, or why the address names neither properly (the code never quoted). */
export function joinAddress(pathname: string, search: string): JoinAddress | { readonly error: string } {
  if (pathname !== JOIN && !pathname.startsWith(`${JOIN}/`))
    return { error: `This page is served at ${JOIN}/<task>; it was opened at another address.` }
  const rest = pathname.slice(JOIN.length).replace(/^\/+|\/+$/g, '')
  let task: string | undefined
  if (rest !== '') {
    let name: string
    try {
      name = decodeURIComponent(rest)
    } catch (error) {
      return { error: `The address names no task that can exist (${(error as Error).message}).` }
    }
    if (!TASK_NAME.test(name))
      return {
        error: `The address names the task ${JSON.stringify(name.slice(0, 80))}, but a task's name is 1 to 64 letters, digits, ".", "_" or "-" (starting with a letter or digit); check the link you were given.`,
      }
    task = name
  }
  const code = new URLSearchParams(search).get('invite')
  if (code !== null && !INVITE_CODE.test(code))
    return {
      error: `The invite link's code is not one (${code.length} characters; a code is 16 to 128 letters, digits, "_" or "-"); copy the whole link you were given.`,
    }
  return { task, invite: code ?? undefined }
}

/** Where the page reads its task's description: the only open task's, or the named one's. */
export function taskInfoUrl(task: string | undefined): string {
  return task === undefined ? '/api/task' : `/api/task?task=${encodeURIComponent(task)}`
}

/** What a volunteer can do after a refusal that retrying cannot change, in the page's words. */
export function volunteerAdvice(code: ReceivedRefusalCode | undefined): string {
  switch (code) {
    case 'unknown-task':
      return 'The coordinator has no open task by this name: check the link you were given.'
    case 'task-finished':
      return 'This task is over. Thank you for coming!'
    case 'browsers-disabled':
      return 'This task does not take volunteers from the browser.'
    case 'revoked':
      return "The coordinator's operator has removed this browser from the task."
    case 'invite-required':
      return 'This task takes volunteers by invitation: open the invite link you were given.'
    case 'bad-invite':
      return 'This invite link is not valid any more (used, expired, or for someone else): ask for a new one.'
    case 'excluded':
      return "A secure round failed because of this browser's messages, so the coordinator excluded it; only its operator can re-admit it."
    case 'wrong-version':
      return 'This page and the coordinator speak different versions: reload the page.'
    case 'identity-mismatch':
    case 'identity-in-use':
      return "This browser's key does not match its enrolment: Stop and delete, then join again."
    default:
      return 'Trying again would not change this.'
  }
}
