// One call with any AWS SDK for JavaScript v3 client, for tests that need a
// single operation of a service other than S3 (s3-call.mjs's generalisation):
//
//   node call.mjs dynamodb GetItem '{"TableName":"Orders","Key":{"id":{"S":"1"}}}'
//
// The first argument is the client package's suffix (@aws-sdk/client-<it>),
// the second the operation. Credentials, region and CA come from the
// standard environment (a web identity token in the lab); AWS_MAX_ATTEMPTS
// limits retries. LAB_AWS_IP, when set, is where every host is dialled
// (the lab's hosts files name only S3, STS, DynamoDB and IAM; Gatehouse
// captures any destination on 443). Prints the result, or the error's name and message and
// exits 1.
import https from "node:https";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const [pkg, op, input = "{}"] = process.argv.slice(2);
let mod;
try {
  mod = await import(`@aws-sdk/client-${pkg}`);
} catch (err) {
  console.error(`no such client: @aws-sdk/client-${pkg}: ${err.message}`);
  process.exit(2);
}
const Command = mod[`${op}Command`];
const Client = Object.entries(mod).find(
  ([name, v]) => name.endsWith("Client") && typeof v === "function" && v.prototype?.send && !name.startsWith("_"),
)?.[1];
if (!Command || !Client) {
  console.error(`no such operation in @aws-sdk/client-${pkg}: ${op}`);
  process.exit(2);
}
const config = pkg === "s3" ? { forcePathStyle: true } : {};
const ip = process.env.LAB_AWS_IP;
if (ip) {
  const lookup = (host, opts, cb) => (opts?.all ? cb(null, [{ address: ip, family: 4 }]) : cb(null, ip, 4));
  config.requestHandler = new NodeHttpHandler({ httpsAgent: new https.Agent({ lookup }) });
}
const client = new Client(config);
// Blobs (Payload, Plaintext, ...) arrive as strings: encode them.
const args = JSON.parse(input, (k, v) =>
  ["Payload", "Plaintext", "CiphertextBlob", "body"].includes(k) && typeof v === "string" ? new TextEncoder().encode(v) : v,
);
try {
  const out = await client.send(new Command(args));
  delete out.$metadata;
  // A streamed body (S3 GetObject) is read whole: the SDK validates its
  // checksum, when it has one, as the stream ends.
  if (out.Body?.transformToString) out.Body = await out.Body.transformToString();
  console.log(JSON.stringify(out));
} catch (err) {
  console.log(`${err.name}: ${err.message}`);
  process.exit(1);
}
