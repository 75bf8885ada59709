package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth-registry/berth/internal/storage"
)

var _ storage.BatchDeleter = (*Driver)(nil)

// maxDeleteObjects is S3's limit of keys per DeleteObjects request.
const maxDeleteObjects = 1000

// DeleteMany implements storage.BatchDeleter. Where Delete makes four
// requests per key (the object, a multipart upload listing, two pending
// state objects), DeleteMany makes one listing of the store's multipart
// uploads (aborting those at keys) and one DeleteObjects per 333 keys
// (each key with its two pending state objects).
func (d *Driver) DeleteMany(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	want := make(map[string]bool, len(keys))
	objs := make([]types.ObjectIdentifier, 0, 3*len(keys))
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
		o := d.objectKey(k)
		want[o] = true
		objs = append(objs, types.ObjectIdentifier{Key: aws.String(o)},
			types.ObjectIdentifier{Key: aws.String(d.stateKey(k, "head"))},
			types.ObjectIdentifier{Key: aws.String(d.stateKey(k, "prev"))})
	}
	p := awss3.NewListMultipartUploadsPaginator(d.client, &awss3.ListMultipartUploadsInput{
		Bucket: &d.bucket,
		Prefix: aws.String(d.prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("delete many: list multipart uploads: %w", err)
		}
		for _, u := range page.Uploads {
			if k := aws.ToString(u.Key); want[k] {
				if err := d.abort(ctx, k, aws.ToString(u.UploadId)); err != nil {
					return fmt.Errorf("delete many: %w", err)
				}
			}
		}
	}
	for len(objs) > 0 {
		n := min(maxDeleteObjects, len(objs))
		out, err := d.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
			Bucket: &d.bucket,
			Delete: &types.Delete{Objects: objs[:n], Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete many: %w", err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fmt.Errorf("delete many: %q: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		objs = objs[n:]
	}
	return nil
}
