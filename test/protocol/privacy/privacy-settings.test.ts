import { parsePrivacySettings, privacyStatement } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const example = {
  unit: 'example',
  epsilon: 3,
  delta: 1e-5,
  clipNorm: 1,
  noiseMultiplier: 1.1,
  rounds: 50,
  samplingRate: 0.05,
  stepsPerRound: 20,
}
const participant = {
  unit: 'participant',
  epsilon: 8,
  delta: 1e-3,
  clipNorm: 0.5,
  noiseMultiplier: 0.9,
  rounds: 30,
  minParticipants: 10,
}

describe('privacy settings, as participants receive them', () => {
  it('parses both units, and null as no privacy', () => {
    expect(parsePrivacySettings(example)).toEqual(example)
    expect(parsePrivacySettings(participant)).toEqual(participant)
    expect(parsePrivacySettings(null)).toBeNull()
  })

  it('refuses what a participant cannot enforce, naming the field', () => {
    expect(() => parsePrivacySettings({ ...example, unit: 'patient' })).toThrow(
      'task.privacy.unit: expected one of "example", "participant", got "patient"',
    )
    expect(() => parsePrivacySettings({ ...example, delta: 0 })).toThrow('task.privacy.delta')
    expect(() => parsePrivacySettings({ ...example, samplingRate: 1.5 })).toThrow('task.privacy.samplingRate')
    expect(() => parsePrivacySettings({ ...example, stepsPerRound: 0.5 })).toThrow(
      'task.privacy.stepsPerRound',
    )
    expect(() => parsePrivacySettings({ ...participant, minParticipants: 1 })).toThrow(
      'task.privacy.minParticipants',
    )
    expect(() => parsePrivacySettings({ ...example, noiseMultiplier: Number.NaN })).toThrow(
      'task.privacy.noiseMultiplier',
    )
    expect(() => parsePrivacySettings('on')).toThrow('task.privacy: expected an object')
  })
})

describe('the privacy statement', () => {
  it('says plainly when a task gives no differential-privacy guarantee', () => {
    const text = privacyStatement(null).join(' ')
    expect(text).toContain('This task gives no differential-privacy guarantee.')
    expect(text).toContain('the trained head is published')
  })

  it('names the unit, ε and δ, C, z, the rounds and the sampling', () => {
    const text = privacyStatement(parsePrivacySettings(example)).join(' ')
    expect(text).toContain(
      'for each example (one patient’s image): (ε = 3.00, δ = 1e-5) over at most 50 rounds',
    )
    expect(text).toContain('Poisson sampling at rate q = 0.05, 20 steps a round')
    expect(text).toContain('C = 1 with noise multiplier z = 1.1')
    const whole = privacyStatement(parsePrivacySettings(participant)).join(' ')
    expect(whole).toContain('for each participant (a whole hospital or volunteer): (ε = 8.00, δ = 1e-3)')
    expect(whole).toContain('any 10 survivors together carry noise of standard deviation z·C')
    expect(whole).toContain('the coordinator never sees a sum without it')
  })

  it('says, for each unit, what the coordinator learns and what the published sum and head reveal', () => {
    const one = privacyStatement(parsePrivacySettings(example)).join(' ')
    const whole = privacyStatement(parsePrivacySettings(participant)).join(' ')
    for (const text of [one, whole]) {
      expect(text).toContain('the coordinator learns only the sum of a round’s updates')
      expect(text).toContain('What is published (the sum, the trained head) is covered by the same ε')
    }
    expect(one).toContain('one patient’s presence changes it by at most what the noise hides')
    expect(whole).toContain('whether one participant took part, and all its data with it')
  })
})
