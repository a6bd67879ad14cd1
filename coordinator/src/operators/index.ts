/** Operators' accounts, roles, sessions, API tokens and audit routes (`@fedtune/coordinator/operators`). */
export { ACCESS_LEVELS, type Access, allows } from './access.ts'
export { AuditBudget, type AuditBudgetLimits, DEFAULT_AUDIT_BUDGET, type Suppressed } from './audit-budget.ts'
export { AUDIT_PAGE_DEFAULT, type AuditPage } from './audit-routes.ts'
export { CSRF_COOKIE, SESSION_COOKIE } from './cookies.ts'
export { OPERATOR_NAME, operatorView } from './operator-routes.ts'
export { auditRequest } from './operators-context.ts'
export {
  hashPassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  passwordProblem,
  SCRYPT,
  verifyPassword,
} from './password.ts'
export { ANONYMOUS, type Refusal, type RefusalCode } from './refusal.ts'
export {
  CSRF_HEADER,
  DEFAULT_SESSION_HOURS,
  type DeclaredRoute,
  declaredRoutes,
  type OperatorsOptions,
  registerOperators,
} from './register-operators.ts'
export { OPERATOR_BODY_LIMIT, type Parsed, parseWith } from './request-body.ts'
export { API_TOKEN_PREFIX, newSecret, secretHash } from './secret-token.ts'
export { DEFAULT_SIGN_IN_LIMITS, SignInLimiter, type SignInLimits } from './sign-in-limiter.ts'
export { type SignedIn, signedInOf } from './signed-in.ts'
export { tokenView } from './token-routes.ts'
