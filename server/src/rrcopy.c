/* SPDX-License-Identifier: MIT */
#include "server/src/rrcopy.h"

#include "lib/common.h"

int ds_rrcopy(ds_wbuf_t *wb, const uint8_t *pkt, size_t len, const ds_rr_t *rr)
{
	uint8_t owner[DS_NAME_MAX], name[DS_NAME_MAX];
	size_t pos = rr->owner_off;
	if (ds_name_unpack(pkt, len, &pos, owner) < 0)
		return DS_EMALF;
	int m = ds_wb_rr_begin(wb, owner, rr->type, rr->rclass, rr->ttl);
	if (m < 0)
		return DS_ESPACE;
	size_t rd = rr->rdata_off, end = rd + rr->rdlen;
	/* Names RFC 3597 lets a sender compress; the rest of the rdata is
	 * copied as is (SRV targets are expanded but written flat). */
	size_t fixed = 0; /* bytes before the first name */
	int names = 0;
	bool compress = true;
	switch (rr->type) {
	case DS_TYPE_NS:
	case DS_TYPE_CNAME:
	case DS_TYPE_PTR:
	case 3:
	case 4:
	case 7:
	case 8:
	case 9: /* MD MF MB MG MR */
		names = 1;
		break;
	case DS_TYPE_DNAME:
		names = 1;
		compress = false;
		break;
	case DS_TYPE_MX:
		fixed = 2;
		names = 1;
		break;
	case 18:
	case 21:
	case 36: /* AFSDB RT KX */
		fixed = 2;
		names = 1;
		compress = false;
		break;
	case DS_TYPE_SRV:
		fixed = 6;
		names = 1;
		compress = false;
		break;
	case DS_TYPE_SOA:
	case 14: /* MINFO */
		names = 2;
		break;
	case 17: /* RP */
		names = 2;
		compress = false;
		break;
	default:
		break;
	}
	if (names == 0 || rr->rdlen < fixed) {
		ds_wb_bytes(wb, pkt + rd, rr->rdlen);
	} else {
		ds_wb_bytes(wb, pkt + rd, fixed);
		pos = rd + fixed;
		for (int i = 0; i < names; i++) {
			if (ds_name_unpack(pkt, len, &pos, name) < 0 || pos > end)
				return DS_EMALF;
			ds_wb_name(wb, name, compress);
		}
		ds_wb_bytes(wb, pkt + pos, end - pos); /* SOA's counters */
	}
	ds_wb_rr_end(wb, m);
	return wb->overflow ? DS_ESPACE : DS_OK;
}
