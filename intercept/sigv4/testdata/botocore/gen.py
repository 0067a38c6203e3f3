#!/usr/bin/env python3
"""Regenerates the botocore-signed requests in this directory.

botocore is an independent SigV4 implementation (the AWS CLI's and
boto3's); sigv4's TestVerifyAcceptsBotocoreSignatures must accept every
request here. Run from this directory: python3 gen.py
Credentials are the tests' made-up agent credentials.
"""
import datetime
from unittest import mock
from urllib.parse import urlsplit

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials

AKID = "AKIAAGENT0000EXAMPLE"
SECRET = "agent/secret+key/0123456789abcdefghijklmn"
SESSION = botocore.credentials.Credentials(
    "ASIAAGENT0000SESSION", "agent-session-secret/abcdefghijklmnopqrstu",
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ")
CREDS = botocore.credentials.Credentials(AKID, SECRET)
NOW = datetime.datetime(2025, 3, 1, 12, 0, 0)
BEDROCK = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Afoundation-model%2Fanthropic.claude/invoke"


def case(name, auth, method, url, headers=None, body=b"", params=None):
    req = botocore.awsrequest.AWSRequest(method=method, url=url, headers=headers or {}, data=body, params=params or {})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW):
        auth.add_auth(req)
    p = req.prepare()
    u = urlsplit(p.url)
    target = u.path or "/"
    if u.query:
        target += "?" + u.query
    body = p.body or b""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} HTTP/1.1", f"Host: {u.netloc}"]
    for k, v in p.headers.items():
        if k.lower() != "host":
            lines.append(f"{k}: {v}")
    if body and "Content-Length" not in p.headers:
        lines.append(f"Content-Length: {len(body)}")
    with open(name + ".http", "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


s3 = botocore.auth.S3SigV4Auth(CREDS, "s3", "us-east-1")
case("s3-get-awkward-key", s3, "GET", "https://bucket.s3.us-east-1.amazonaws.com/a%20b%2Bc/%E2%9C%93~/%2F", headers={"Range": "bytes=0-9"})
case("s3-list-query", s3, "GET", "https://bucket.s3.us-east-1.amazonaws.com/",
     params={"list-type": "2", "prefix": "a b+c/&=ü", "delimiter": "/", "start-after": ""})
case("s3-put-metadata-with-tab", botocore.auth.S3SigV4Auth(SESSION, "s3", "us-east-1"), "PUT",
     "https://s3.us-east-1.amazonaws.com/bucket/key", headers={"x-amz-meta-note": "a\tb  c", "Content-Type": "text/plain"}, body=b"hello")
case("execute-api-dot-segments", botocore.auth.SigV4Auth(CREDS, "execute-api", "us-east-1"), "GET",
     "https://abc.execute-api.us-east-1.amazonaws.com/stage//a%20b/./c/../d/")
case("bedrock-invoke", botocore.auth.SigV4Auth(CREDS, "bedrock", "us-east-1"), "POST",
     "https://bedrock-runtime.us-east-1.amazonaws.com" + BEDROCK, headers={"Content-Type": "application/json"}, body=b'{"prompt":"hi"}')
case("dynamodb-getitem", botocore.auth.SigV4Auth(CREDS, "dynamodb", "us-east-1"), "POST",
     "https://dynamodb.us-east-1.amazonaws.com/",
     headers={"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"},
     body=b'{"TableName":"t","Key":{"pk":{"S":"a b"}}}')
case("sts-form-post", botocore.auth.SigV4Auth(CREDS, "sts", "us-east-1"), "POST", "https://sts.amazonaws.com/",
     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
     body=b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%2Bb&RoleSessionName=s%20e")
case("s3-presigned-get", botocore.auth.S3SigV4QueryAuth(SESSION, "s3", "us-east-1", expires=3600), "GET",
     "https://bucket.s3.us-east-1.amazonaws.com/pre%20signed%2B.txt?versionId=3%2B4")
case("sts-presigned-get", botocore.auth.SigV4QueryAuth(CREDS, "sts", "us-east-1", expires=60), "GET",
     "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
