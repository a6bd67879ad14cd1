import { useState } from 'preact/hooks'
import { type Operator, signIn } from './session.ts'

export function SignIn({ onSignedIn, reason }: { onSignedIn: (o: Operator) => void; reason: string }) {
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState(reason)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    try {
      onSignedIn(await signIn(name, password))
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="sign-in">
      <h1>
        fedtune <span class="muted">console</span>
      </h1>
      <form onSubmit={submit}>
        <label>
          Name
          <input
            name="name"
            autocomplete="username"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            required
          />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
        {error !== '' && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  )
}
