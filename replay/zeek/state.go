package zeek

import "github.com/halo-sec/halo/events"

// Reason maps a Zeek conn_state (and, for SF, the history string) to the
// close reason of the conn.closed event:
//
//	REJ                      refused  (SYN answered by RST)
//	S0, OTH                  timeout  (no answer to the SYN / no SYN seen,
//	                                   nothing shows who closed)
//	S1                       timeout  (established, never closed: Zeek's
//	                                   inactivity timeout or end of capture)
//	SF                       client or server: who sent the first FIN, from
//	                         history (F = originator, f = responder);
//	                         client when history does not say
//	S2, RSTO, RSTOS0, SH     client   (the originator closed or aborted)
//	S3, RSTR, RSTRH, SHR     server   (the responder closed or aborted)
//	anything else, unset     unspecified
//
// Zeek's conn_state is kept verbatim in ConnClosed.State.
func Reason(state, history string) events.CloseReason {
	switch state {
	case "REJ":
		return events.CloseReason_CLOSE_REASON_REFUSED
	case "S0", "OTH", "S1":
		return events.CloseReason_CLOSE_REASON_TIMEOUT
	case "SF":
		for i := 0; i < len(history); i++ {
			switch history[i] {
			case 'F':
				return events.CloseReason_CLOSE_REASON_CLIENT
			case 'f':
				return events.CloseReason_CLOSE_REASON_SERVER
			}
		}
		return events.CloseReason_CLOSE_REASON_CLIENT
	case "S2", "RSTO", "RSTOS0", "SH":
		return events.CloseReason_CLOSE_REASON_CLIENT
	case "S3", "RSTR", "RSTRH", "SHR":
		return events.CloseReason_CLOSE_REASON_SERVER
	}
	return events.CloseReason_CLOSE_REASON_UNSPECIFIED
}
