#!/usr/bin/env node
// Gatehouse e2e S3 workload for the unmodified AWS SDK for JavaScript v3.
//
// Runs: create bucket -> put small object -> multipart-upload a 20 MiB object
// (5 MiB parts, via lib-storage Upload from a Readable stream) -> list ->
// get both and byte-compare -> awkward keys (for each of four keys with
// characters SigV4 canonicalization must get right: put, head, get and
// byte-compare, prefix-list where the key must come back exactly, delete,
// prefix-list again to prove it is gone) -> presigned GET of the small object
// (@aws-sdk/s3-request-presigner, fetched with plain https.get, through the
// proxy agent if HTTPS_PROXY) -> a streamed PutObject (Readable body of 6 MiB,
// explicit ContentLength: the SDK sends aws-chunked with
// STREAMING-UNSIGNED-PAYLOAD-TRAILER and a CRC32 trailer, checked from the
// request headers it sent), get and byte-compare -> delete the objects ->
// delete bucket. Exits non-zero with a message on stderr on the first failure.
//
// Configuration comes only from the environment:
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION   read by the SDK itself
//   (or AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN instead of the keys)
//   NODE_EXTRA_CA_CERTS                                   read by node itself
//   HTTPS_PROXY / https_proxy (optional)                  passed to the SDK as an https.Agent
//   LAB_BUCKET                                            bucket name prefix (not needed with LAB_BUCKET_NAME)
//   LAB_BUCKET_NAME (optional exact bucket name, overrides the prefix)
//   LAB_SKIP_BUCKET_CREATE=1 (optional: use the existing bucket LAB_BUCKET_NAME,
//     checked with HeadBucket; do not create it and do not delete it at the end;
//     other keys in it are tolerated by the listing check)
//   LAB_S3_ADDRESSING=path|virtual (optional, default path)
//   LAB_S3_ENDPOINT (optional; default: the SDK's own endpoint resolution)
//
// TLS verification, checksums and request encoding are left at SDK defaults.

import { fromTokenFile } from "@aws-sdk/credential-provider-web-identity";
import { randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpsProxyAgent } from "https-proxy-agent";

const CLIENT = "js";
const MiB = 1024 * 1024;
const SMALL_KEY = "hello.txt";
const LARGE_KEY = "large.bin";
const LARGE_SIZE = 20 * MiB;
const PART_SIZE = 5 * MiB;
const EXPECTED_PARTS = LARGE_SIZE / PART_SIZE;
const STREAM_KEY = "stream.bin";
const STREAM_SIZE = 6 * MiB;
const PRESIGN_EXPIRES = 300; // seconds

// Keys that must survive SigV4 canonicalization (path and query encoding)
// through a re-signing proxy unchanged.
const AWKWARD_KEYS = [
  "dir/a b+c.txt", // space and plus
  "enc%2Fslash.txt", // a literal percent-2F in the key name, not a slash
  "unicodé/ключ-日本.txt", // multi-byte UTF-8
  "tilde~and=equals&amp.txt", // unreserved ~, and = & that are special in queries
];

let currentStep = "setup";

function step(name, detail) {
  console.log(`[${CLIENT}] ${name}: ok${detail ? ` (${detail})` : ""}`);
}

function fail(msg) {
  throw new Error(msg);
}

function requireEnv(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is required`);
  return v;
}

function errText(err) {
  if (!err) return String(err);
  const parts = [];
  if (err.name && err.name !== "Error") parts.push(err.name);
  parts.push(err.message || String(err));
  const status = err.$metadata?.httpStatusCode;
  if (status) parts.push(`http ${status}`);
  if (err.$metadata?.requestId) parts.push(`request-id ${err.$metadata.requestId}`);
  if (err.code && !parts.includes(err.code)) parts.push(err.code);
  if (err.cause) parts.push(`cause: ${errText(err.cause)}`);
  return parts.join(": ");
}

async function main() {
  currentStep = "config";
  // Credentials: static keys, or a web identity token and a role (the SDK
  // then calls STS AssumeRoleWithWebIdentity itself).
  const webIdentity = !!process.env.AWS_WEB_IDENTITY_TOKEN_FILE;
  const needed = webIdentity ? ["AWS_ROLE_ARN", "AWS_REGION"] : ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"];
  for (const v of needed) requireEnv(v);
  const prefix = process.env.LAB_BUCKET_NAME ? process.env.LAB_BUCKET : requireEnv("LAB_BUCKET");
  const region = process.env.AWS_REGION;

  const skipFlag = process.env.LAB_SKIP_BUCKET_CREATE || "";
  if (!["", "0", "1"].includes(skipFlag)) {
    fail(`LAB_SKIP_BUCKET_CREATE must be 1 (or unset), got "${skipFlag}"`);
  }
  const skipCreate = skipFlag === "1";
  if (skipCreate && !process.env.LAB_BUCKET_NAME) {
    fail("LAB_SKIP_BUCKET_CREATE=1 needs LAB_BUCKET_NAME, the existing bucket");
  }

  const addressing = process.env.LAB_S3_ADDRESSING || "path";
  if (addressing !== "path" && addressing !== "virtual") {
    fail(`LAB_S3_ADDRESSING must be "path" or "virtual", got "${addressing}"`);
  }

  const clientConfig = { forcePathStyle: addressing === "path" };
  // Region and credentials are deliberately not passed: the SDK's default
  // providers read AWS_REGION / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
  if (process.env.LAB_S3_ENDPOINT) clientConfig.endpoint = process.env.LAB_S3_ENDPOINT;

  const proxy = process.env.HTTPS_PROXY || process.env.https_proxy;
  let proxyAgent;
  if (proxy) {
    // The JS SDK does not read HTTPS_PROXY itself. Same socket defaults as
    // NodeHttpHandler's own https.Agent (keepAlive, maxSockets 50).
    proxyAgent = new HttpsProxyAgent(proxy, { keepAlive: true, maxSockets: 50 });
    clientConfig.requestHandler = new NodeHttpHandler({ httpsAgent: proxyAgent });
    if (webIdentity) {
      // The credential chain's own STS client would not use the proxy.
      clientConfig.credentials = fromTokenFile({
        clientConfig: { region, requestHandler: new NodeHttpHandler({ httpsAgent: proxyAgent }) },
      });
    }
  }

  const s3 = new S3Client(clientConfig);

  const suffix = randomBytes(4).toString("hex");
  // LAB_BUCKET_NAME: an exact name, for virtual-host style (hosts files).
  const bucket = process.env.LAB_BUCKET_NAME || `${prefix}-${CLIENT}-${suffix}`;
  if (bucket.length > 63) fail(`bucket name "${bucket}" is longer than 63 characters`);

  step(
    "config",
    `bucket=${bucket} region=${region} addressing=${addressing} endpoint=${
      clientConfig.endpoint || "sdk-default"
    } proxy=${proxy ? "yes" : "no"}`,
  );

  // 1. create bucket (or check that the existing one is there)
  if (skipCreate) {
    currentStep = "head-bucket";
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    step("head-bucket", `${bucket} exists, LAB_SKIP_BUCKET_CREATE=1: not created`);
  } else {
    currentStep = "create-bucket";
    const createInput = { Bucket: bucket };
    if (region !== "us-east-1") {
      createInput.CreateBucketConfiguration = { LocationConstraint: region };
    }
    await s3.send(new CreateBucketCommand(createInput));
    step("create-bucket", bucket);
  }

  // 2. small object, string body
  currentStep = "put-small";
  const line = `hello from the gatehouse ${CLIENT} e2e client, run ${suffix}\n`;
  const small = line.repeat(Math.ceil(3000 / line.length));
  const smallBytes = Buffer.from(small, "utf8");
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: SMALL_KEY, Body: small, ContentType: "text/plain" }),
  );
  step("put-small", `${SMALL_KEY} ${smallBytes.length} bytes`);

  // 3. 20 MiB random object, multipart upload streamed from a Readable
  currentStep = "put-multipart";
  const large = randomBytes(LARGE_SIZE);
  const chunk = 64 * 1024;
  const body = Readable.from(
    (function* () {
      for (let off = 0; off < large.length; off += chunk) yield large.subarray(off, off + chunk);
    })(),
  );
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: LARGE_KEY, Body: body, ContentType: "application/octet-stream" },
    partSize: PART_SIZE,
    queueSize: 4,
  });
  let partsSeen = 0;
  upload.on("httpUploadProgress", (p) => {
    if (p.part) partsSeen = Math.max(partsSeen, p.part);
  });
  const up = await upload.done();
  if (!up.UploadId && !up.ETag) fail("upload returned neither UploadId nor ETag");
  step("put-multipart", `${LARGE_KEY} ${LARGE_SIZE} bytes, part size ${PART_SIZE}, parts ${partsSeen}`);

  // 4. list
  currentStep = "list";
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const contents = listed.Contents || [];
  const byKey = new Map(contents.map((o) => [o.Key, o]));
  const want = [
    [SMALL_KEY, smallBytes.length],
    [LARGE_KEY, LARGE_SIZE],
  ];
  for (const [key, size] of want) {
    const o = byKey.get(key);
    if (!o) fail(`key ${key} missing from listing (got: ${[...byKey.keys()].join(", ") || "nothing"})`);
    if (Number(o.Size) !== size) fail(`key ${key} listed with size ${o.Size}, want ${size}`);
  }
  // An existing bucket (LAB_SKIP_BUCKET_CREATE=1) may hold other keys.
  if (contents.length !== want.length && !skipCreate) {
    fail(`listing has ${contents.length} keys, want ${want.length}`);
  }
  const largeETag = byKey.get(LARGE_KEY).ETag || "";
  if (!largeETag.replace(/"/g, "").endsWith(`-${EXPECTED_PARTS}`)) {
    fail(`${LARGE_KEY} ETag ${largeETag} is not a ${EXPECTED_PARTS}-part multipart ETag`);
  }
  step("list", `${contents.length} keys, sizes match, ${LARGE_KEY} etag ${largeETag}`);

  // 5. get both, byte-compare
  for (const [key, sent] of [
    [SMALL_KEY, smallBytes],
    [LARGE_KEY, large],
  ]) {
    currentStep = `get ${key}`;
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await got.Body.transformToByteArray());
    if (bytes.length !== sent.length) fail(`${key}: got ${bytes.length} bytes, sent ${sent.length}`);
    if (!bytes.equals(sent)) fail(`${key}: content differs from what was uploaded`);
    step("get", `${key} ${bytes.length} bytes identical`);
  }

  // 6. awkward keys: each is put, read back, listed and deleted here.
  for (const key of AWKWARD_KEYS) {
    const body = Buffer.from(
      `key ${JSON.stringify(key)} from the gatehouse ${CLIENT} e2e client, run ${suffix}\n`,
      "utf8",
    );
    await awkwardKey(s3, bucket, key, body);
  }

  // 7. presigned GET of the small object, fetched without the SDK
  currentStep = "presigned-get";
  const signed = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: SMALL_KEY }), {
    expiresIn: PRESIGN_EXPIRES,
  });
  const signedURL = new URL(signed);
  if (!signedURL.searchParams.get("X-Amz-Signature")) fail("presigned URL carries no X-Amz-Signature");
  const fetched = await plainGet(signedURL, proxyAgent);
  if (fetched.status !== 200) {
    fail(`http ${fetched.status}: ${fetched.body.subarray(0, 300).toString("utf8")}`);
  }
  if (!fetched.body.equals(smallBytes)) {
    fail(`got ${fetched.body.length} bytes that differ from the ${smallBytes.length} uploaded`);
  }
  // The query holds the credential and signature: print origin and path only.
  step(
    "presigned-get",
    `${SMALL_KEY} via ${signedURL.origin}${signedURL.pathname}, expires ${PRESIGN_EXPIRES}s, ` +
      `${fetched.viaProxy ? "through HTTPS_PROXY, " : ""}http ${fetched.status}, ${fetched.body.length} bytes identical`,
  );

  // 8. streamed PutObject: Readable body, explicit ContentLength
  currentStep = "put-stream";
  const streamData = randomBytes(STREAM_SIZE);
  const streamBody = Readable.from(
    (function* () {
      for (let off = 0; off < streamData.length; off += chunk) yield streamData.subarray(off, off + chunk);
    })(),
  );
  const putStream = new PutObjectCommand({
    Bucket: bucket,
    Key: STREAM_KEY,
    Body: streamBody,
    ContentLength: STREAM_SIZE,
    ContentType: "application/octet-stream",
  });
  let sent;
  // Innermost middleware (after signing and the flexible-checksums
  // aws-chunked encoding): these are the headers on the wire.
  putStream.middlewareStack.add(
    (next) => async (args) => {
      sent = { ...args.request.headers };
      return next(args);
    },
    { step: "deserialize", priority: "low", name: "gatehouseE2ECaptureSentHeaders" },
  );
  await s3.send(putStream);
  if (!sent) fail("request headers were not captured");
  const hdr = (name) => {
    const k = Object.keys(sent).find((h) => h.toLowerCase() === name);
    return k === undefined ? "" : String(sent[k]);
  };
  const sha = hdr("x-amz-content-sha256");
  const enc = hdr("content-encoding");
  const trailer = hdr("x-amz-trailer");
  if (sha !== "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || !enc.includes("aws-chunked") || !trailer) {
    fail(
      `the SDK did not send an aws-chunked trailer upload: x-amz-content-sha256="${sha}" ` +
        `content-encoding="${enc}" x-amz-trailer="${trailer}"`,
    );
  }
  step(
    "put-stream",
    `${STREAM_KEY} ${STREAM_SIZE} bytes from a Readable, x-amz-content-sha256 ${sha}, content-encoding ${enc}, ` +
      `x-amz-trailer ${trailer}, x-amz-decoded-content-length ${hdr("x-amz-decoded-content-length")}, ` +
      `transfer-encoding ${hdr("transfer-encoding") || "none"}`,
  );
  currentStep = `get ${STREAM_KEY}`;
  const gotStream = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: STREAM_KEY }));
  const streamBack = Buffer.from(await gotStream.Body.transformToByteArray());
  if (!streamBack.equals(streamData)) {
    fail(`got ${streamBack.length} bytes that differ from the ${streamData.length} sent`);
  }
  step("get", `${STREAM_KEY} ${streamBack.length} bytes identical`);

  // 9. delete the objects
  for (const key of [SMALL_KEY, LARGE_KEY, STREAM_KEY]) {
    currentStep = `delete-object ${key}`;
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    step("delete-object", key);
  }

  // 10. delete bucket, unless it was there before us
  if (skipCreate) {
    step("keep-bucket", `${bucket} left in place, LAB_SKIP_BUCKET_CREATE=1`);
  } else {
    currentStep = "delete-bucket";
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    step("delete-bucket", bucket);
  }

  console.log(`[${CLIENT}] PASS`);
}

// awkwardKey puts key, heads it, gets and byte-compares it, lists it by
// prefix (the listing must hold exactly key), deletes it and lists again
// (nothing left: DeleteObject of a mangled key would "succeed" silently).
async function awkwardKey(s3, bucket, key, body) {
  const q = JSON.stringify(key);
  currentStep = `put-key ${q}`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "text/plain" }));
  step("put-key", `${q} ${body.length} bytes`);

  currentStep = `head-key ${q}`;
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (Number(head.ContentLength) !== body.length) {
    fail(`content-length ${head.ContentLength}, want ${body.length}`);
  }
  step("head-key", `${q} content-length ${body.length}`);

  currentStep = `get-key ${q}`;
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = Buffer.from(await got.Body.transformToByteArray());
  if (!bytes.equals(body)) fail(`got ${bytes.length} bytes that differ from the ${body.length} sent`);
  step("get-key", `${q} ${bytes.length} bytes identical`);

  currentStep = `list-key ${q}`;
  let keys = await listPrefix(s3, bucket, key);
  if (keys.length !== 1 || keys[0] !== key) {
    fail(`prefix listing returned ${JSON.stringify(keys)}, want exactly [${q}]`);
  }
  step("list-key", `${q} listed exactly`);

  currentStep = `delete-key ${q}`;
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  keys = await listPrefix(s3, bucket, key);
  if (keys.length !== 0) fail(`still listed after delete: ${JSON.stringify(keys)}`);
  step("delete-key", `${q} deleted, no longer listed`);
}

async function listPrefix(s3, bucket, prefix) {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents || []).map((o) => o.Key);
}

// plainGet fetches url with node's own http(s).get: NODE_EXTRA_CA_CERTS is
// already in node's default trust store; an https URL goes through
// proxyAgent (HTTPS_PROXY) when one is set.
function plainGet(url, proxyAgent) {
  const isHttps = url.protocol === "https:";
  const options = {};
  if (isHttps && proxyAgent) options.agent = proxyAgent;
  const get = isHttps ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, options, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, body: Buffer.concat(chunks), viaProxy: Boolean(options.agent) }),
      );
      res.on("error", reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error("presigned GET timed out")));
    req.on("error", reject);
  });
}

main().catch((err) => {
  console.error(`[${CLIENT}] FAIL at ${currentStep}: ${errText(err)}`);
  process.exit(1);
});
