import { useEffect, useState } from 'preact/hooks'

/** The page's views, in the URL's hash so a reload stays where it was: #/, #/run/<task>, #/audit. */
export type Route =
  | { readonly view: 'runs' }
  | { readonly view: 'run'; readonly task: string }
  | { readonly view: 'audit' }

export function routeOf(hash: string): Route {
  const path = hash.replace(/^#/, '')
  if (path === '/audit') return { view: 'audit' }
  const run = /^\/run\/(.+)$/.exec(path)
  if (run?.[1] !== undefined) {
    try {
      return { view: 'run', task: decodeURIComponent(run[1]) }
    } catch {
      return { view: 'runs' }
    }
  }
  return { view: 'runs' }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.hash))
  useEffect(() => {
    const changed = () => setRoute(routeOf(location.hash))
    window.addEventListener('hashchange', changed)
    return () => window.removeEventListener('hashchange', changed)
  }, [])
  return route
}

/** The time now, once a second: for countdowns to deadlines the feed gave (a clock, not a poll). */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [])
  return now
}
