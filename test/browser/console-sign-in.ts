import type { Page } from 'playwright-core'
import { TEST_PASSWORD } from '../test-store.ts'

/** Signs `name` (an operator added with the test password) in to the console at `url`, as a person would. */
export async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/console`)
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Password').fill(TEST_PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('#who').getByText(name).waitFor()
}
