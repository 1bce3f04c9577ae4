// list-pages.test.ts's cases, with the bot on PostgreSQL (a fresh database per harness).
import { runOnPostgres } from './support/pg-twin.js'

await runOnPostgres(() => import('./list-pages.test.js'))
