package bench

import (
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
)

// directPut is the S3 ceiling: n layers of size bytes, each sent by one
// streamed PutObject straight to the store (no registry), with the same
// SDK Berth uses. It returns the median MB/s.
func directPut(ctx context.Context, s *S3, prefix string, size int64, n int, seed uint64, m *cpuMeter) (float64, error) {
	client := awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.Key, s.Secret, ""),
		// As Berth's driver on a custom endpoint: no CRC32 of the body.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	// A stream is not seekable, so it cannot be hashed for the signature
	// before it is sent: sign the headers only.
	unsigned := awss3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	var rates []float64
	for i := range n {
		b := newBlob(seed+uint64(i), size)
		key := fmt.Sprintf("%s/%d", prefix, i)
		before := m.sample()
		t0 := time.Now()
		_, err := client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket:        aws.String(s.Bucket),
			Key:           aws.String(key),
			Body:          struct{ io.Reader }{b.reader()},
			ContentLength: aws.Int64(size),
		}, unsigned)
		if err != nil {
			return 0, fmt.Errorf("direct PUT: %w", err)
		}
		rates = append(rates, float64(size)/1e6/time.Since(t0).Seconds())
		m.add(before)
		_, _ = client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	}
	return median(rates), nil
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
