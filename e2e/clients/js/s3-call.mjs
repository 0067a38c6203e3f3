// One S3 call with the AWS SDK for JavaScript v3, for tests that need a
// single operation (a delete a policy refuses, a read it allows):
//
//   node s3-call.mjs DeleteBucket '{"Bucket":"prod-x"}'
//
// Credentials, region and CA come from the standard environment (a web
// identity token in the lab). Prints the result, or the error's name and
// message and exits 1.
import * as s3 from "@aws-sdk/client-s3";

const [op, input = "{}"] = process.argv.slice(2);
const Command = s3[`${op}Command`];
if (!Command) {
  console.error(`no such S3 operation: ${op}`);
  process.exit(2);
}
const client = new s3.S3Client({ forcePathStyle: true });
try {
  const out = await client.send(new Command(JSON.parse(input)));
  delete out.$metadata;
  console.log(JSON.stringify(out));
} catch (err) {
  console.log(`${err.name}: ${err.message}`);
  process.exit(1);
}
