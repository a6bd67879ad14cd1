import { REFUSAL_CODES, refusalIsFinal } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { joinAddress, taskInfoUrl, volunteerAdvice } from '../../client-web/src/join-address.ts'

describe("the volunteers' page reads its task and invite code from its own address", () => {
  it('takes the task from /join/<task>, with or without a trailing slash', () => {
    expect(joinAddress('/join/chest-xray', '')).toEqual({ task: 'chest-xray', invite: undefined })
    expect(joinAddress('/join/chest-xray/', '')).toEqual({ task: 'chest-xray', invite: undefined })
    expect(joinAddress('/join/skin.v2_b', '?backend=wasm')).toEqual({ task: 'skin.v2_b', invite: undefined })
  })

  it('names no task at /join, so a one-task coordinator needs nothing', () => {
    expect(joinAddress('/join', '')).toEqual({ task: undefined, invite: undefined })
    expect(joinAddress('/join/', '')).toEqual({ task: undefined, invite: undefined })
  })

  it('takes an invite link’s code from ?invite=', () => {
    expect(joinAddress('/join/chest-xray', '?invite=Q3x_9-abcdefGHIJ')).toEqual({
      task: 'chest-xray',
      invite: 'Q3x_9-abcdefGHIJ',
    })
    expect(joinAddress('/join', '?backend=webgl&invite=Q3x_9-abcdefGHIJ')).toMatchObject({
      invite: 'Q3x_9-abcdefGHIJ',
    })
  })

  it('a task name outside the alphabet is refused with what a name is, before anything is asked', () => {
    expect(joinAddress('/join/..%2Fapi', '')).toEqual({
      error:
        'The address names the task "../api", but a task\'s name is 1 to 64 letters, digits, ".", "_" or "-" (starting with a letter or digit); check the link you were given.',
    })
    expect(joinAddress('/join/a/b', '')).toMatchObject({ error: expect.stringContaining('"a/b"') })
    expect(joinAddress('/join/%E0%A4%A', '')).toMatchObject({
      error: expect.stringMatching(/^The address names no task that can exist/),
    })
    expect(joinAddress('/other', '')).toEqual({
      error: 'This page is served at /join/<task>; it was opened at another address.',
    })
    expect(joinAddress('/joinery', '')).toMatchObject({ error: expect.any(String) })
  })

  it('a truncated invite code is refused without quoting it', () => {
    const refused = joinAddress('/join/chest', '?invite=Q3x_9-abc')
    expect(refused).toEqual({
      error:
        'The invite link\'s code is not one (9 characters; a code is 16 to 128 letters, digits, "_" or "-"); copy the whole link you were given.',
    })
    expect(JSON.stringify(refused)).not.toContain('Q3x_9-abc')
  })

  it('reads the description of the named task, or of the only one', () => {
    expect(taskInfoUrl(undefined)).toBe('/api/task')
    expect(taskInfoUrl('chest-xray')).toBe('/api/task?task=chest-xray')
  })

  it('after every final refusal the page says what the volunteer can do', () => {
    const generic = volunteerAdvice(undefined)
    for (const code of REFUSAL_CODES.filter((c) => refusalIsFinal(c) && c !== 'bad-key' && c !== 'bad-proof'))
      if (!['invalid-spec', 'unsupported', 'malformed'].includes(code))
        expect(volunteerAdvice(code), code).not.toBe(generic)
    expect(volunteerAdvice('task-finished')).toBe('This task is over. Thank you for coming!')
  })
})
