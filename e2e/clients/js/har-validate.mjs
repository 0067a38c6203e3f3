// Validates a HAR file against the HAR 1.2 JSON schema (har-validator, the
// schema set HTTP clients such as request and httpsnippet check against).
// Usage: node har-validate.mjs file.har; exits 1 and prints the schema
// errors when the file is not a valid HAR 1.2 log.
import { readFileSync } from 'node:fs'
import validator from 'har-validator'

const path = process.argv[2]
if (!path) {
  console.error('usage: node har-validate.mjs file.har')
  process.exit(2)
}
let data
try {
  data = JSON.parse(readFileSync(path, 'utf8'))
} catch (err) {
  console.error(`read ${path}: ${err.message}`)
  process.exit(1)
}
try {
  await validator.har(data)
} catch (err) {
  console.error(`${path} is not a valid HAR 1.2 log:`)
  console.error(JSON.stringify(err.errors ?? err.message, null, 2))
  process.exit(1)
}
