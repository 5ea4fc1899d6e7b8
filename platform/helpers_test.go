package platform_test

import (
	"encoding/base64"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
