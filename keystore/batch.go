package keystore

import (
	"encoding/json"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
)

// BatchPlaintext is the plaintext of a sealed key batch, as the phone's
// secure element reads it (se.batch) after opening it with its device
// key. A store makes it only inside SealBatch; test harnesses that play a
// phone build one (applettest).
type BatchPlaintext struct {
	Token string     `json:"token"`
	Keys  []BatchKey `json:"keys"`
}

// BatchKey is one limited-use key in a batch.
type BatchKey struct {
	Index     int    `json:"index"`
	Key       []byte `json:"key"`
	ExpiresAt int64  `json:"expires_at"`
}

// SealBatch seals limited-use keys (keys[i] has index b.First+i) to the
// phone's device key in the secure element's format, wiping the
// plaintext. For key stores: the keys come from their derivation.
func SealBatch(b Batch, keys []Secret) ([]byte, error) {
	pub, err := devicekey.ParsePublic(b.DeviceKey)
	if err != nil {
		return nil, err
	}
	j := BatchPlaintext{Token: b.PAN, Keys: make([]BatchKey, len(keys))}
	for i, k := range keys {
		j.Keys[i] = BatchKey{Index: b.First + i, Key: k.Reveal(), ExpiresAt: b.Expires.Unix()}
	}
	plain, err := json.Marshal(j)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "key_batch", "encode the key batch")
	}
	defer clear(plain)
	return devicekey.Seal(pub, plain, []byte(b.PAN))
}
