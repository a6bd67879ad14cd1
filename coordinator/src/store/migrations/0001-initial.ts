import type { Migration } from './migration.ts'

/**
 * The first schema: operators and their sessions and tokens, tasks, runs and their rounds, participants
 * and invites, and the audit log. Checks and keys hold the invariants, so no code path can break them:
 * one name and one identity key per participant in a task, one row per round, single-use invites, an
 * append-only audit log. Secrets are never stored, only what the caller hashed (`*_hash`).
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  statements: [
    `create table operators (
      name text primary key check (name <> '' and length(name) <= 200),
      role text not null check (role in ('admin', 'operator', 'viewer')),
      password_hash text not null,
      created_at timestamptz not null default now(),
      disabled_at timestamptz
    )`,
    `create table sessions (
      token_hash text primary key,
      operator text not null references operators (name),
      csrf_hash text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      revoked_at timestamptz,
      address text,
      check (expires_at > created_at)
    )`,
    'create index sessions_operator on sessions (operator)',
    `create table api_tokens (
      id integer generated always as identity primary key,
      operator text not null references operators (name),
      label text not null check (length(label) <= 200),
      token_hash text not null unique,
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      last_used_at timestamptz
    )`,
    'create index api_tokens_operator on api_tokens (operator)',
    `create table tasks (
      name text primary key check (name <> '' and length(name) <= 200),
      file jsonb not null,
      submitted_by text not null,
      submitted_at timestamptz not null default now()
    )`,
    `create table runs (
      id integer generated always as identity primary key,
      task text not null references tasks (name),
      settings jsonb not null,
      state text not null default 'preparing'
        check (state in ('preparing', 'waiting', 'running', 'paused', 'stopped', 'finished', 'failed')),
      reason text,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      ended_at timestamptz,
      pause_requested boolean not null default false,
      check ((ended_at is null) = (state not in ('stopped', 'finished', 'failed')))
    )`,
    'create index runs_task on runs (task)',
    `create table rounds (
      run integer not null references runs (id),
      round integer not null check (round >= 0),
      status text not null check (status in ('aggregated', 'failed')),
      record jsonb not null,
      head_file text,
      committed_at timestamptz not null default now(),
      primary key (run, round),
      check ((record ->> 'round')::integer = round),
      check (record ->> 'status' = status)
    )`,
    // Rounds are consecutive within a run: a new round is the one after the run's last (a round already
    // committed is left to the primary key, so it is told apart as a conflict).
    `create function rounds_in_sequence() returns trigger language plpgsql as $$
    declare
      first integer;
      last integer;
    begin
      select min(round), max(round) into first, last from rounds where run = new.run;
      if last is not null and (new.round > last + 1 or new.round < first) then
        raise exception 'round % of run % is out of sequence: the last committed round is %',
          new.round, new.run, last using errcode = '23514';
      end if;
      return new;
    end
    $$`,
    `create trigger rounds_in_sequence before insert on rounds
      for each row execute function rounds_in_sequence()`,
    `create table participants (
      task text not null references tasks (name),
      name text not null check (name <> '' and length(name) <= 200),
      kind text not null check (kind in ('hospital', 'browser')),
      identity_key bytea not null check (length(identity_key) between 1 and 256),
      state text not null check (state in ('pending', 'approved', 'revoked', 'excluded')),
      enrolled_via text not null check (enrolled_via in ('approval', 'invite', 'open')),
      created_at timestamptz not null default now(),
      decided_by text,
      decided_at timestamptz,
      reason text,
      primary key (task, name),
      unique (task, identity_key),
      check ((state = 'pending') = (decided_at is null))
    )`,
    `create table invites (
      code_hash text primary key,
      task text not null references tasks (name),
      participant text not null check (participant <> '' and length(participant) <= 200),
      created_by text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      used_at timestamptz,
      check (expires_at > created_at)
    )`,
    'create index invites_task on invites (task, participant)',
    `create table audit (
      id bigserial primary key,
      at timestamptz not null default now(),
      actor text not null check (actor <> ''),
      address text,
      action text not null check (action <> ''),
      target text,
      task text,
      run integer,
      outcome text not null check (outcome in ('ok', 'refused', 'failed')),
      detail jsonb not null default '{}'
    )`,
    'create index audit_run on audit (run, id)',
    'create index audit_actor on audit (actor, id)',
    'create index audit_action on audit (action, id)',
    // History cannot be changed: the database refuses every UPDATE, DELETE and TRUNCATE of the audit log,
    // whatever code (or bug) asks. SQLSTATE FT001 is ours (store-error.ts maps it to 'append-only').
    `create function audit_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'the audit log is append-only: % refused', tg_op using errcode = 'FT001';
    end
    $$`,
    `create trigger audit_no_update_or_delete before update or delete on audit
      for each row execute function audit_append_only()`,
    `create trigger audit_no_truncate before truncate on audit
      for each statement execute function audit_append_only()`,
  ],
}
