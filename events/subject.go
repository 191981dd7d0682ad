package events

import "strconv"

// SubjectPrefix is the first token of every subject of the event log.
const SubjectPrefix = "halo"

// NoTenant is the subject token of installation-wide events (no tenant).
// It cannot be a tenant name: those start with a letter or digit.
const NoTenant = "_"

// DefaultPartitions is the number of partitions P a new log is created with.
const DefaultPartitions = 16

// Partition maps a device to its partition: FNV-1a (32 bit) of the device id
// mod partitions. One device's events are always on one partition, so they
// stay in order and one worker sees all of them. The empty device is on
// partition 0.
func Partition(device string, partitions int) int {
	if partitions <= 1 || device == "" {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(device); i++ {
		h ^= uint32(device[i])
		h *= 16777619
	}
	return int(h % uint32(partitions))
}

// Subject returns the log subject halo.<tenant>.<kind>.<partition> for an
// event of type t; an empty tenant becomes NoTenant.
func Subject(tenant string, t Type, device string, partitions int) string {
	return SubjectOf(tenant, t.Kind(), Partition(device, partitions))
}

// SubjectOf assembles a subject from its tokens; "*" may stand for any token
// when the result is used as a filter, and an empty tenant is NoTenant.
func SubjectOf(tenant, kind string, partition int) string {
	if tenant == "" {
		tenant = NoTenant
	}
	b := make([]byte, 0, len(SubjectPrefix)+len(tenant)+len(kind)+8)
	b = append(b, SubjectPrefix...)
	b = append(b, '.')
	b = append(b, tenant...)
	b = append(b, '.')
	b = append(b, kind...)
	b = append(b, '.')
	if partition < 0 {
		b = append(b, '*')
	} else {
		b = strconv.AppendInt(b, int64(partition), 10)
	}
	return string(b)
}
