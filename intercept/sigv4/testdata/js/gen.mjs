// Regenerates the JS-SDK-signed requests in this directory with
// @smithy/signature-v4, the signer of AWS SDK for JavaScript v3, from the
// e2e client's node_modules: node gen.mjs (from this directory).
// sigv4's TestVerifyAcceptsOtherSDKSignatures must accept every request.
import { createHash, createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";

const require = createRequire(new URL("../../../../e2e/clients/js/package.json", import.meta.url));
const { SignatureV4 } = require("@smithy/signature-v4");

class Sha256 {
  constructor(secret) { this.h = secret ? createHmac("sha256", secret) : createHash("sha256"); }
  update(d) { this.h.update(typeof d === "string" ? Buffer.from(d, "utf8") : d); }
  async digest() { return new Uint8Array(this.h.digest()); }
}
const creds = { accessKeyId: "AKIAAGENT0000EXAMPLE", secretAccessKey: "agent/secret+key/0123456789abcdefghijklmn" };
const session = { accessKeyId: "ASIAAGENT0000SESSION", secretAccessKey: "agent-session-secret/abcdefghijklmnopqrstu", sessionToken: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ" };
const signingDate = new Date(Date.UTC(2025, 2, 1, 12, 0, 0));
const escape = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

async function write(name, service, c, presign = false) {
  const signer = new SignatureV4({ credentials: c.creds ?? creds, region: "us-east-1", service, sha256: Sha256, uriEscapePath: service !== "s3" });
  const req = { method: c.method, protocol: "https:", hostname: c.host, path: c.path, query: c.query ?? {}, headers: { host: c.host, ...(c.headers ?? {}) }, body: c.body };
  const signed = presign ? await signer.presign(req, { signingDate, expiresIn: 600 }) : await signer.sign(req, { signingDate });
  const q = Object.entries(signed.query ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => escape(k) + "=" + escape(x))).join("&");
  let text = `${c.method} ${signed.path}${q ? "?" + q : ""} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(signed.headers)) text += `${k}: ${v}\r\n`;
  if (c.body) text += `content-length: ${Buffer.byteLength(c.body)}\r\n`;
  writeFileSync(name + ".http", text + "\r\n" + (c.body ?? ""));
}

const empty = createHash("sha256").update("").digest("hex");
await write("s3-get-awkward-key", "s3", { method: "GET", host: "bucket.s3.us-east-1.amazonaws.com", path: "/a%20b%2Bc/%E2%9C%93~/%2F",
  query: { "list-type": "2", prefix: "a b+c/&=ü", "start-after": "" }, headers: { "x-amz-content-sha256": empty, range: "bytes=0-9" } });
await write("s3-put-session-metadata", "s3", { method: "PUT", host: "s3.us-east-1.amazonaws.com", path: "/bucket/key", creds: session,
  headers: { "x-amz-content-sha256": createHash("sha256").update("hello").digest("hex"), "x-amz-meta-note": "a\tb  c", "content-type": "text/plain" }, body: "hello" });
await write("execute-api-dot-segments", "execute-api", { method: "GET", host: "abc.execute-api.us-east-1.amazonaws.com", path: "/stage//a%20b/./c/../d/" });
await write("bedrock-invoke", "bedrock", { method: "POST", host: "bedrock-runtime.us-east-1.amazonaws.com",
  path: "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Afoundation-model%2Fanthropic.claude/invoke", headers: { "content-type": "application/json" }, body: '{"prompt":"hi"}' });
await write("dynamodb-getitem", "dynamodb", { method: "POST", host: "dynamodb.us-east-1.amazonaws.com", path: "/",
  headers: { "x-amz-target": "DynamoDB_20120810.GetItem", "content-type": "application/x-amz-json-1.0" }, body: '{"TableName":"t"}' });

// Presigned URLs as the JS SDK makes them: S3Client + getSignedUrl.
const { S3Client, GetObjectCommand, PutObjectCommand } = require("@aws-sdk/client-s3");
const { getSignedUrl } = require("@aws-sdk/s3-request-presigner");
const s3 = new S3Client({ region: "us-east-1", credentials: session });
for (const [name, cmd] of [
  ["s3-presigned-get", new GetObjectCommand({ Bucket: "bucket", Key: "pre signed+/ü.txt", VersionId: "3+4" })],
  ["s3-presigned-put", new PutObjectCommand({ Bucket: "bucket", Key: "up load.txt", ContentType: "text/plain" })],
]) {
  const u = new URL(await getSignedUrl(s3, cmd, { expiresIn: 600, signingDate }));
  const method = name.endsWith("put") ? "PUT" : "GET";
  writeFileSync(name + ".http", `${method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\n${method === "PUT" ? "content-type: text/plain\r\n" : ""}\r\n`);
}
