/* SPDX-License-Identifier: MIT */
/**
 * \file corefile.h
 * \brief Corefile lexer and parser with CoreDNS's grammar, and the token
 *        cursor plugins use to read their own configuration.
 *
 * Grammar (CoreDNS's caddy fork): tokens split on whitespace; `#` starts a
 * comment outside quotes; "..." is one token (\" escapes a quote, other
 * backslashes are kept); `{` and `}` alone are block tokens. `{$VAR}` and
 * `{%VAR%}` are replaced inside every token after lexing (unset = empty;
 * the token is not re-split). A file is a list of server blocks
 * `KEY [KEY...] { directive args... [{ ... }] }`; keys may be separated by
 * spaces or trailing commas; a file with one block may omit the braces.
 * `(name) { ... }` defines a snippet; `import NAME|PATH|GLOB` pastes tokens.
 * As in CoreDNS, a directive's arguments end with its line, so a "}" on a
 * directive's line is an error unless it closes a block opened there:
 * `. { whoami }` on one line is refused, `log { class all }` is fine.
 *
 * Everything a parse creates is owned by the ds_corefile_t and freed with
 * it. Every token remembers its file and line so errors can name them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

/** One token. `file` points into storage owned by the corefile. */
typedef struct ds_token {
	const char *text;
	const char *file;
	int line;
	bool quoted;     /**< came from "..." (so "{" is not a block token); also set when
			      env substitution produced a lone "{" or "}" */
	int end_line;    /**< line the token ends on (a quoted token can span lines);
			      0 means the same as line */
	bool line_start; /**< set by the parser: first token of its line. Imported text
			      (snippet or file) always starts a new line even when its line
			      numbers say otherwise. Hand-built tokens may leave it false. */
} ds_token_t;

/**
 * One directive occurrence inside a server block: its name token and all
 * tokens up to the end of its line or of its nested block, inclusive.
 * tokens[0] is the directive name.
 */
typedef struct ds_directive {
	const char *name;
	const ds_token_t *tokens;
	size_t ntokens;
} ds_directive_t;

/** One server block: keys as written (after env substitution), directives in file order. */
typedef struct ds_sblock {
	const ds_token_t *keys;
	size_t nkeys;
	const ds_directive_t *dirs;
	size_t ndirs;
} ds_sblock_t;

/** A parsed Corefile. */
typedef struct ds_corefile {
	const char *path;          /**< the top file, as given */
	const ds_sblock_t *blocks; /**< server blocks in order (snippets excluded) */
	size_t nblocks;
	void *priv;                /**< storage; do not touch */
} ds_corefile_t;

/**
 * Callback deciding whether a directive name is known (CoreDNS answers
 * "Unknown directive 'x'" otherwise). NULL accepts every name.
 */
typedef bool (*ds_known_directive_f)(const char *name, void *ctx);

/**
 * A ds_known_directive_f that accepts exactly the directive names of
 * CoreDNS's plugin.cfg (whether or not this build has the plugin), so a
 * misspelt name fails with "Unknown directive" as it does in CoreDNS.
 * ctx is unused.
 */
bool ds_corefile_coredns_directive(const char *name, void *ctx);

/**
 * Snippet imports and file imports are each capped at this many per parse,
 * so a cyclic or exploding configuration fails instead of running away.
 */
#define DS_COREFILE_MAX_EXPANSIONS 10000

/**
 * Parse the Corefile at path. Imports are resolved relative to the
 * directory of the file that contains them.
 * On error returns DS_ECONFIG (or DS_ENOENT when path itself cannot be
 * read) with err->msg like "Corefile:12 - Error during parsing: Unknown
 * directive 'cahce'" (file:line, then the cause). The top file is named as
 * given; imported files by their absolute path. *out is NULL on error.
 * A glob import matching nothing logs a WARNING and is not an error.
 */
int ds_corefile_parse_file(const char *path, ds_known_directive_f known, void *ctx,
			   ds_corefile_t **out, ds_err_t *err);

/**
 * Parse text as if it were the file `name` (imports relative to the
 * current directory, or to `dir` if not NULL).
 */
int ds_corefile_parse_string(const char *name, const char *text, const char *dir,
			     ds_known_directive_f known, void *ctx, ds_corefile_t **out,
			     ds_err_t *err);

/** Free a parsed Corefile and everything it points to (tokens, names). NULL is fine. */
void ds_corefile_free(ds_corefile_t *cf);

/**
 * Canonical serialisation of the parsed form (blocks, keys, directives
 * and their tokens, imports expanded, env substituted, comments gone),
 * the thing the reload plugin hashes: whitespace or comment edits do not
 * change it. Returns a malloc'd string the caller frees (NULL if cf is
 * NULL). The form is JSON: [{"keys":[..],"directives":[[[tokens of a
 * line], ...], ...]}, ...]; where lines break inside a directive is kept
 * since it changes the meaning, and a quoted "{" or "}" is written as
 * {"quoted":"{"} so it differs from a block brace.
 */
char *ds_corefile_canonical(const ds_corefile_t *cf);

/* ------------------------------------------------------------------ keys */

/** Transports a server block key can name. */
typedef enum {
	DS_SCHEME_DNS = 0,
	DS_SCHEME_TLS,
	DS_SCHEME_QUIC,
	DS_SCHEME_GRPC,
	DS_SCHEME_HTTPS,
	DS_SCHEME_HTTPS3,
} ds_scheme_t;

/** Most zones one key can expand to: an IPv4 /25 gives 2^7 /32 zones. */
#define DS_ZONE_KEY_MAX 128

/** One zone a key expands to (a CIDR key can give several). */
typedef struct ds_zone_key {
	ds_scheme_t scheme;
	char zone[256];   /**< lower-case FQDN with trailing dot: "example.org.", "." */
	int port;         /**< explicit port, or the scheme default / dns_port */
} ds_zone_key_t;

/**
 * Normalise a server block key: "[scheme://]zone[:port]", "." root,
 * "10.0.0.0/24" reverse CIDR (a non-octet boundary expands to several
 * zones: "10.0.0.0/27" gives 32 in-addr.arpa zones; IPv6 by nibble).
 * dns_port is the default for dns:// keys without a port (the -dns.port
 * flag). Fills up to max entries of out; returns how many, or DS_ECONFIG
 * with err->msg set (unknown scheme, bad port, bad CIDR, ...).
 * Ports must be 1..65535 (0 is refused: a server needs a known port).
 * Scheme names are matched case-insensitively. Returns DS_ENOSPC if the
 * key expands to more than max zones (DS_ZONE_KEY_MAX is always enough).
 */
int ds_zone_key_parse(const char *key, int dns_port, ds_zone_key_t *out, size_t max,
		      ds_err_t *err);

/**
 * Normalise a zone name (not a key): lower-case, trailing dot, CIDR -> first reverse zone.
 * Returns DS_OK, DS_EINVAL (not a valid name or CIDR) or DS_ENOSPC (outlen too small).
 */
int ds_zone_normalize(const char *in, char *out, size_t outlen);

/* ------------------------------------------------------------------ args */

/**
 * Cursor over one directive's tokens, in the manner of Caddy's Dispenser.
 * Start: positioned before tokens[0] (the directive name); the first
 * ds_args_next() moves onto the name.
 */
typedef struct ds_args {
	const ds_directive_t *dir;
	size_t cursor;        /**< index of the current token; (size_t)-1 before the start */
	int nesting;          /**< block depth while walking a block */
	const char *plugin;   /**< for error messages */
	ds_err_t *err;        /**< where ds_args_err() writes */
} ds_args_t;

/**
 * Start a cursor over dir (borrowed: it must outlive the cursor). plugin
 * names the plugin in error messages; err (may be NULL) receives them.
 */
void ds_args_init(ds_args_t *a, const ds_directive_t *dir, const char *plugin, ds_err_t *err);
/** Move to the next token, whatever line it is on. false at the end. */
bool ds_args_next(ds_args_t *a);
/**
 * Move to the next token only if it is on the same line as the current one
 * and is not an opening brace "{" (nor a closing "}": unquoted braces in a
 * directive are always block delimiters). false otherwise (cursor unchanged).
 * Before the start it moves onto the directive name.
 */
bool ds_args_next_arg(ds_args_t *a);
/**
 * Walk a nested block: call in a loop after the directive's arguments.
 * The first call expects an opening "{" as the next token on the same line
 * (returns false if there is none: no block). Each call then moves to the
 * next line's first token inside the block and returns true; it returns
 * false after consuming the closing "}". Nested blocks inside are skipped
 * unless the caller walks them with another ds_args_next_block().
 *
 * Precisely: a call whose next token is a "{" on the current token's line
 * opens that block (so read a line's arguments, then loop on
 * ds_args_next_block() to walk the block the line opens). Otherwise,
 * inside a block, the call skips the rest of the current entry (its
 * arguments and any block it opens) and lands on the next entry, or
 * consumes the "}" that closes the block and returns false. A one-line
 * block "health { lameduck 5s }" holds one entry.
 */
bool ds_args_next_block(ds_args_t *a);
/** Text of the current token ("" before the start). */
const char *ds_args_val(const ds_args_t *a);
/** Line of the current token (before the start: the directive name's). */
int ds_args_line(const ds_args_t *a);
/** File of the current token (before the start: the directive name's). */
const char *ds_args_file(const ds_args_t *a);
/**
 * Collect the remaining arguments on the current line (not "{") into out
 * (at most max); returns the count (can be more than max: extra ones are
 * consumed and counted but not stored).
 */
size_t ds_args_remaining(ds_args_t *a, const char **out, size_t max);
/**
 * Format a configuration error at the current token:
 * "<file>:<line> - Error during parsing: plugin/<plugin>: <message>"
 * into a->err (if not NULL) and return DS_ECONFIG. Without a plugin name
 * the "plugin/<plugin>: " part is left out.
 */
int ds_args_err(ds_args_t *a, const char *fmt, ...) DS_PRINTF(2, 3);
/**
 * ds_args_err() with "Wrong argument count or unexpected line ending after
 * '<tok>'" ("Unexpected token '{', expecting argument" when the current
 * token is a block's "{"). Returns DS_ECONFIG.
 */
int ds_args_err_argcount(ds_args_t *a);
