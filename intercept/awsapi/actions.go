package awsapi

// iamExceptions are the operations whose IAM action is not
// "<prefix>:<Operation>". Sources: the Service Authorization Reference
// ("Actions, resources, and condition keys for Amazon S3", "... Amazon
// Bedrock", "... AWS Lambda") and iann0036/iam-dataset aws/map.json
// (sdk_method_iam_mappings, the table iamlive uses), which lists the S3
// entries below under the same names. Keyed "<module>:<Operation>"; the
// value is the action without its prefix unless it names another prefix.
var iamExceptions = map[string]string{
	// S3: listing is s3:ListBucket*, reads of a head are reads.
	"s3:ListBuckets":          "ListAllMyBuckets",
	"s3:ListObjects":          "ListBucket",
	"s3:ListObjectsV2":        "ListBucket",
	"s3:ListObjectVersions":   "ListBucketVersions",
	"s3:HeadBucket":           "ListBucket",
	"s3:HeadObject":           "GetObject",
	"s3:SelectObjectContent":  "GetObject",
	"s3:ListMultipartUploads": "ListBucketMultipartUploads",
	"s3:ListParts":            "ListMultipartUploadParts",
	// Multipart uploads and copies are writes of the object.
	"s3:CreateMultipartUpload":   "PutObject",
	"s3:UploadPart":              "PutObject",
	"s3:UploadPartCopy":          "PutObject",
	"s3:CompleteMultipartUpload": "PutObject",
	"s3:CopyObject":              "PutObject",
	"s3:DeleteObjects":           "DeleteObject",
	// Bucket configuration: IAM names the configuration, not the call;
	// deleting one is putting it.
	"s3:GetBucketCors":                               "GetBucketCORS",
	"s3:PutBucketCors":                               "PutBucketCORS",
	"s3:DeleteBucketCors":                            "PutBucketCORS",
	"s3:GetBucketLifecycleConfiguration":             "GetLifecycleConfiguration",
	"s3:PutBucketLifecycleConfiguration":             "PutLifecycleConfiguration",
	"s3:DeleteBucketLifecycle":                       "PutLifecycleConfiguration",
	"s3:GetBucketEncryption":                         "GetEncryptionConfiguration",
	"s3:PutBucketEncryption":                         "PutEncryptionConfiguration",
	"s3:DeleteBucketEncryption":                      "PutEncryptionConfiguration",
	"s3:GetBucketReplication":                        "GetReplicationConfiguration",
	"s3:PutBucketReplication":                        "PutReplicationConfiguration",
	"s3:DeleteBucketReplication":                     "PutReplicationConfiguration",
	"s3:DeleteBucketTagging":                         "PutBucketTagging",
	"s3:GetBucketAccelerateConfiguration":            "GetAccelerateConfiguration",
	"s3:PutBucketAccelerateConfiguration":            "PutAccelerateConfiguration",
	"s3:GetBucketAnalyticsConfiguration":             "GetAnalyticsConfiguration",
	"s3:PutBucketAnalyticsConfiguration":             "PutAnalyticsConfiguration",
	"s3:DeleteBucketAnalyticsConfiguration":          "PutAnalyticsConfiguration",
	"s3:ListBucketAnalyticsConfigurations":           "GetAnalyticsConfiguration",
	"s3:GetBucketInventoryConfiguration":             "GetInventoryConfiguration",
	"s3:PutBucketInventoryConfiguration":             "PutInventoryConfiguration",
	"s3:DeleteBucketInventoryConfiguration":          "PutInventoryConfiguration",
	"s3:ListBucketInventoryConfigurations":           "GetInventoryConfiguration",
	"s3:GetBucketMetricsConfiguration":               "GetMetricsConfiguration",
	"s3:PutBucketMetricsConfiguration":               "PutMetricsConfiguration",
	"s3:DeleteBucketMetricsConfiguration":            "PutMetricsConfiguration",
	"s3:ListBucketMetricsConfigurations":             "GetMetricsConfiguration",
	"s3:GetBucketIntelligentTieringConfiguration":    "GetIntelligentTieringConfiguration",
	"s3:PutBucketIntelligentTieringConfiguration":    "PutIntelligentTieringConfiguration",
	"s3:DeleteBucketIntelligentTieringConfiguration": "PutIntelligentTieringConfiguration",
	"s3:ListBucketIntelligentTieringConfigurations":  "GetIntelligentTieringConfiguration",
	"s3:GetBucketNotificationConfiguration":          "GetBucketNotification",
	"s3:PutBucketNotificationConfiguration":          "PutBucketNotification",
	"s3:GetPublicAccessBlock":                        "GetBucketPublicAccessBlock",
	"s3:PutPublicAccessBlock":                        "PutBucketPublicAccessBlock",
	"s3:DeletePublicAccessBlock":                     "PutBucketPublicAccessBlock",
	"s3:DeleteBucketOwnershipControls":               "PutBucketOwnershipControls",
	"s3:GetObjectLockConfiguration":                  "GetBucketObjectLockConfiguration",
	"s3:PutObjectLockConfiguration":                  "PutBucketObjectLockConfiguration",
	"s3:WriteGetObjectResponse":                      "s3-object-lambda:WriteGetObjectResponse",
	"s3:CreateSession":                               "s3express:CreateSession",
	"s3:ListDirectoryBuckets":                        "s3express:ListAllMyDirectoryBuckets",

	// Bedrock Runtime: Converse is InvokeModel by another shape.
	"bedrockruntime:Converse":       "InvokeModel",
	"bedrockruntime:ConverseStream": "InvokeModelWithResponseStream",

	// Lambda
	"lambda:Invoke":                   "InvokeFunction",
	"lambda:InvokeWithResponseStream": "InvokeFunction",
	"lambda:GetLayerVersionByArn":     "GetLayerVersion",
}

// versioned are the S3 actions that become their *Version* form when the
// request names a versionId (IAM evaluates s3:GetObjectVersion, not
// s3:GetObject, for GET ?versionId=...).
var versioned = map[string]string{
	"GetObject":           "GetObjectVersion",
	"DeleteObject":        "DeleteObjectVersion",
	"GetObjectAcl":        "GetObjectVersionAcl",
	"PutObjectAcl":        "PutObjectVersionAcl",
	"GetObjectTagging":    "GetObjectVersionTagging",
	"PutObjectTagging":    "PutObjectVersionTagging",
	"DeleteObjectTagging": "DeleteObjectVersionTagging",
	"GetObjectAttributes": "GetObjectVersionAttributes",
}

// action is the IAM action name (without prefix, unless it has its own)
// for an operation, before request-dependent refinements.
func action(module, operation string) string {
	if a, ok := iamExceptions[module+":"+operation]; ok {
		return a
	}
	return operation
}
