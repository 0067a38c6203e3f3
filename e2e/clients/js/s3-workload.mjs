#!/usr/bin/env node
// Gatehouse e2e S3 workload for the unmodified AWS SDK for JavaScript v3.
//
// Runs: create bucket -> put small object -> multipart-upload a 20 MiB object
// (5 MiB parts, via lib-storage Upload from a Readable stream) -> list ->
// get both and byte-compare -> delete both objects -> delete bucket.
// Exits non-zero with a message on stderr on the first failure.
//
// Configuration comes only from the environment:
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION   read by the SDK itself
//   NODE_EXTRA_CA_CERTS                                   read by node itself
//   HTTPS_PROXY / https_proxy (optional)                  passed to the SDK as an https.Agent
//   LAB_BUCKET                                            bucket name prefix
//   LAB_S3_ADDRESSING=path|virtual (optional, default path)
//   LAB_S3_ENDPOINT (optional; default: the SDK's own endpoint resolution)
//
// TLS verification, checksums and request encoding are left at SDK defaults.

import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";

import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  GetObjectCommand,
  DeleteObjectCommand,
  DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpsProxyAgent } from "https-proxy-agent";

const CLIENT = "js";
const MiB = 1024 * 1024;
const SMALL_KEY = "hello.txt";
const LARGE_KEY = "large.bin";
const LARGE_SIZE = 20 * MiB;
const PART_SIZE = 5 * MiB;
const EXPECTED_PARTS = LARGE_SIZE / PART_SIZE;

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
  for (const v of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]) requireEnv(v);
  const prefix = requireEnv("LAB_BUCKET");
  const region = process.env.AWS_REGION;

  const addressing = process.env.LAB_S3_ADDRESSING || "path";
  if (addressing !== "path" && addressing !== "virtual") {
    fail(`LAB_S3_ADDRESSING must be "path" or "virtual", got "${addressing}"`);
  }

  const clientConfig = { forcePathStyle: addressing === "path" };
  // Region and credentials are deliberately not passed: the SDK's default
  // providers read AWS_REGION / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
  if (process.env.LAB_S3_ENDPOINT) clientConfig.endpoint = process.env.LAB_S3_ENDPOINT;

  const proxy = process.env.HTTPS_PROXY || process.env.https_proxy;
  if (proxy) {
    // The JS SDK does not read HTTPS_PROXY itself. Same socket defaults as
    // NodeHttpHandler's own https.Agent (keepAlive, maxSockets 50).
    const httpsAgent = new HttpsProxyAgent(proxy, { keepAlive: true, maxSockets: 50 });
    clientConfig.requestHandler = new NodeHttpHandler({ httpsAgent });
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

  // 1. create bucket
  currentStep = "create-bucket";
  const createInput = { Bucket: bucket };
  if (region !== "us-east-1") {
    createInput.CreateBucketConfiguration = { LocationConstraint: region };
  }
  await s3.send(new CreateBucketCommand(createInput));
  step("create-bucket", bucket);

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
  if (contents.length !== want.length) fail(`listing has ${contents.length} keys, want ${want.length}`);
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

  // 6. delete both objects
  for (const key of [SMALL_KEY, LARGE_KEY]) {
    currentStep = `delete-object ${key}`;
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    step("delete-object", key);
  }

  // 7. delete bucket
  currentStep = "delete-bucket";
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  step("delete-bucket", bucket);

  console.log(`[${CLIENT}] PASS`);
}

main().catch((err) => {
  console.error(`[${CLIENT}] FAIL at ${currentStep}: ${errText(err)}`);
  process.exit(1);
});
