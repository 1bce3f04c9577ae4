// PM2's entry point: PM2 runs plain JavaScript, and this hands over to the TypeScript bot (loaded
// through tsx by node_args), exactly as `npm run bot` runs it.
import './main.ts'
