package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// directPut is the S3 ceiling: layers sent straight to the store (no
// registry) with the SDK Berth uses, in turn as one streamed PutObject
// and as a multipart upload of partSize parts sent one at a time
// (Berth's shape).
type directPut struct {
	client *awss3.Client
	bucket string
	size   int64
	shapes []directShape
}

type directShape struct {
	name  string
	put   func(ctx context.Context, key string, r io.Reader) error
	rates []float64
	m     *cpuMeter
}

func newDirectPut(s *S3, size, partSize int64, weedPID int) *directPut {
	client := awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.Key, s.Secret, ""),
		// As Berth's driver on a custom endpoint: no CRC32 of the body,
		// headers signed, body not (a stream cannot be hashed before it
		// is sent).
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
	d := &directPut{client: client, bucket: s.Bucket, size: size}
	buf := make([]byte, partSize)
	d.shapes = []directShape{
		{name: "one streamed PUT", put: func(ctx context.Context, key string, r io.Reader) error {
			_, err := client.PutObject(ctx, &awss3.PutObjectInput{
				Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: r, ContentLength: aws.Int64(size),
			})
			return err
		}},
		{name: fmt.Sprintf("multipart, %d MiB parts", partSize>>20), put: func(ctx context.Context, key string, r io.Reader) error {
			return multipartPut(ctx, client, s.Bucket, key, r, buf)
		}},
	}
	for i := range d.shapes {
		d.shapes[i].m = newCPUMeter(weedPID)
	}
	return d
}

// once sends the layer of seed in every shape, then deletes it.
func (d *directPut) once(ctx context.Context, seed uint64) error {
	b := newBlob(seed, d.size)
	for i := range d.shapes {
		sh := &d.shapes[i]
		key := fmt.Sprintf("bench-direct/%d-%d", seed, i)
		before := sh.m.sample()
		t0 := time.Now()
		if err := sh.put(ctx, key, struct{ io.Reader }{b.reader()}); err != nil {
			return fmt.Errorf("S3 straight to the store (%s): %w", sh.name, err)
		}
		sh.rates = append(sh.rates, float64(d.size)/1e6/time.Since(t0).Seconds())
		sh.m.add(before)
		_, _ = d.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(key)})
	}
	return nil
}

// best logs every shape and returns the median MB/s of the faster one and
// the store's CPU seconds per layer in it.
func (d *directPut) best(o Options) (rate, weedCPU float64) {
	for _, sh := range d.shapes {
		r := median(sh.rates)
		o.logf("S3 straight to the store, %s: %.1f MB/s, SeaweedFS CPU %.2f s per layer", sh.name, r, sh.m.perOp(0))
		if r > rate {
			rate, weedCPU = r, sh.m.perOp(0)
		}
	}
	return rate, weedCPU
}

// multipartPut uploads r in parts of len(buf) bytes, one at a time.
func multipartPut(ctx context.Context, c *awss3.Client, bucket, key string, r io.Reader, buf []byte) error {
	created, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for num := int32(1); ; num++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: created.UploadId,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
			if err != nil {
				return err
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// cpuMeter adds up the CPU time (user and system) that some processes
// spend during the measured operations. A nil meter measures nothing.
type cpuMeter struct {
	pids  []int
	total []float64 // seconds, per pid
	ops   int
}

func newCPUMeter(pids ...int) *cpuMeter {
	return &cpuMeter{pids: pids, total: make([]float64, len(pids))}
}

// sample reads the processes' CPU times now.
func (m *cpuMeter) sample() []float64 {
	if m == nil {
		return nil
	}
	s := make([]float64, len(m.pids))
	for i, pid := range m.pids {
		s[i] = cpuSeconds(pid)
	}
	return s
}

// add counts one operation that started at sample before.
func (m *cpuMeter) add(before []float64) {
	if m == nil {
		return
	}
	for i, v := range m.sample() {
		m.total[i] += v - before[i]
	}
	m.ops++
}

// perOp is the mean CPU seconds of process i per operation.
func (m *cpuMeter) perOp(i int) float64 {
	if m == nil || m.ops == 0 {
		return 0
	}
	return m.total[i] / float64(m.ops)
}

// cpuSeconds is the user+system CPU time of pid, from /proc/PID/stat
// (0 when it cannot be read).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
