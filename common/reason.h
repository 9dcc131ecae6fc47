/* reason: the fixed set of quarantine reason codes.
 *
 * A rejection's reason text names the field ("records[3].strokes: must not
 * be negative") and so holds whatever a device put in a field name; it is
 * kept, in full, in the quarantine table. Anything that must stay bounded —
 * a metric label, a dashboard legend — uses this code instead: each reason
 * text maps to exactly one code, and the set never grows with the input.
 *
 * Header-only enum so the validators (record.c, message.c) can set a code
 * without linking the text table in reason.c. */
#ifndef SMP_REASON_H
#define SMP_REASON_H

typedef enum {
    REASON_OTHER,            /* not recognised (a reason of another version) */
    REASON_TOPIC,            /* topic: not smp/v1/dev/<device>/events */
    REASON_UNREGISTERED,     /* device: <id> is not registered ... */
    REASON_RETIRED,          /* device: <id> is retired */
    REASON_TOO_LARGE,        /* payload: larger than 256 KiB */
    REASON_BAD_ENCODING,     /* NUL byte, not valid UTF-8, \u0000 escape */
    REASON_TOO_DEEP,         /* nested deeper than 4 levels */
    REASON_NOT_JSON,         /* not valid JSON */
    REASON_NOT_OBJECT,       /* payload / record must be a JSON object */
    REASON_BAD_VERSION,      /* v: unsupported version */
    REASON_BAD_DEVICE_ID,    /* device: the device id rule */
    REASON_DEVICE_MISMATCH,  /* device: does not match the device of the topic */
    REASON_BAD_RECORD_COUNT, /* records: must hold 1..64 records */
    REASON_UNKNOWN_FIELD,    /* unknown field (batch or record), or one the agent assigns */
    REASON_DUPLICATE_FIELD,  /* duplicate field */
    REASON_MISSING_FIELD,    /* required */
    REASON_UNKNOWN_TYPE,     /* unknown record type */
    REASON_BAD_TYPE,         /* wrong JSON type: must be a number / string / array */
    REASON_NEGATIVE,         /* must not be negative */
    REASON_NOT_EXACT,        /* must be an integer / at most one decimal place */
    REASON_OUT_OF_RANGE,     /* out of range / must be a finite number */
    REASON_BAD_TEXT,         /* empty, too long, not UTF-8, control character */
    REASON_BAD_CHARSET,      /* identifier outside its character set */
    REASON_NOT_ALLOWED,      /* not one of the allowed values */
    REASON_BAD_FORMAT,       /* date, time, hex digest or base64 malformed */
    REASON_FUTURE_TS,        /* ts too far ahead of the receive time */
    REASON_COUNT
} reason_code;

/* "not_json", "unknown_field", ...: the label value. */
const char *reason_code_name(reason_code code);

/* The code of a reason text "<field>: <reason>" as the collector stores it
 * (array indexes may be removed: "records[].strokes: ..."). Matching is on
 * the text after the field, so a field name can never change the code. */
reason_code reason_code_of(const char *reason_text);

#endif
