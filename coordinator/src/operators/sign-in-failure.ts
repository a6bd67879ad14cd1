/** Why a sign-in was refused (session-routes.ts), as the audit log and the metrics name it: never the name tried. */
export type SignInFailure = 'unknown-name' | 'wrong-password' | 'disabled' | 'rate-limited'
