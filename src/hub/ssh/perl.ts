// The perl programs the SSH fallback runs on a backend. perl is on every Linux
// and macOS host (only modules of Debian's perl-base are used; Time::HiRes is
// optional) and behaves the same on both, where GNU and BSD stat/find flags
// differ. The programs take every value from @ARGV (or stdin), never from
// their own text, and answer on stdout as netstrings (`LEN:BYTES`, see
// reply.ts): "ok" and the data, or "err", a code and the path concerned.
import { shQuote } from "./quote.ts";

const PRELUDE = String.raw`
use strict; use warnings; no warnings qw(uninitialized);
use POSIX (); use Errno (); use IO::Handle; use Config;
use Fcntl qw(:mode O_WRONLY O_CREAT O_EXCL);
binmode STDOUT;
my $HIRES = eval { require Time::HiRes; defined &Time::HiRes::lstat } ? 1 : 0;
my $HOME = (defined $ENV{HOME} && length $ENV{HOME}) ? $ENV{HOME} : ((getpwuid($<))[7] // '/');
sub out { for my $f (@_) { my $s = defined $f ? "$f" : ''; print length($s), ':', $s } }
sub ecode { my $n = $! + 0; local $! = $n; for my $k (keys %!) { return $k if $!{$k} } return "E$n" }
sub fail_errno { my ($path) = @_; my $m = "$!"; out('err', ecode(), $path, $m); exit 0 }
sub refuse { out('err', @_); exit 0 }
# Lexical normalization as node's path.normalize: '.', '..' and '//' go, a trailing '/' stays when asked.
sub norm { my ($p, $trail) = @_; my @o;
  for my $s (split m{/}, $p) { next if $s eq '' || $s eq '.'; if ($s eq '..') { pop @o } else { push @o, $s } }
  my $r = '/' . join('/', @o); $r .= '/' if $trail && $r ne '/' && $p =~ m{/\z}; return $r }
# As lmcp's resolveUserPath: '~' and '~/x' mean home, relative paths start from home.
sub user_path { my ($p) = @_; return $HOME if $p eq '~';
  if (substr($p, 0, 2) eq '~/') { my $x = substr($p, 2); return length $x ? norm("$HOME/$x", 1) : norm($HOME, 1) }
  return norm(substr($p, 0, 1) eq '/' ? $p : "$HOME/$p", 0) }
sub dir_of { my ($p) = @_; $p =~ s{/+\z}{} unless $p eq '/'; $p =~ s{/[^/]*\z}{}; return length $p ? $p : '/' }
`;

/** read_file: ARGV path, mode (utf8|base64), max bytes fetched (utf8), offset, limit ("" = none), bytes that fit a reply (base64). */
const READ_FILE = String.raw`
my ($arg, $mode, $max, $off, $lim, $fit) = @ARGV;
my $p = user_path($arg);
my @st = stat($p); fail_errno($p) unless @st;
refuse('ISDIR', $p) if S_ISDIR($st[2]);
refuse('NOTREG', $p) unless S_ISREG($st[2]);
open(my $fh, '<:raw', $p) or fail_errno($p);
if ($mode eq 'utf8') {
  refuse('TOOBIG', $p, $st[7]) if $st[7] > $max;
  my ($buf, $n) = ('');
  while ($n = sysread($fh, $buf, 1048576, length $buf)) { refuse('TOOBIG', $p, length $buf) if length($buf) > $max }
  fail_errno($p) unless defined $n;
  out('ok', $p, $buf);
} else {
  my $size = $st[7];
  my $want = ($lim ne '' && $lim < $fit) ? $lim : $fit;
  $want = $size - $off if $size - $off < $want;
  $want = 0 if $want < 0;
  my $head = '';
  defined(sysread($fh, $head, 8192)) or fail_errno($p);
  my $bytes = '';
  if ($want > 0) {
    sysseek($fh, $off, 0) or fail_errno($p);
    while (length($bytes) < $want) {
      my $n = sysread($fh, $bytes, $want - length($bytes), length $bytes);
      fail_errno($p) unless defined $n; last if $n == 0;
    }
  }
  out('ok', $p, $size, $head, $bytes);
}
`;

/** list_dir: ARGV path, all (0|1), max entries. Names sorted by bytes (lmcp sorts by UTF-16 code units: the same order for all but rare non-BMP names). */
const LIST_DIR = String.raw`
my ($arg, $all, $max) = @ARGV;
my $p = user_path($arg);
my @st = stat($p); fail_errno($p) unless @st;
refuse(S_ISREG($st[2]) ? 'ISFILE' : 'NOTDIR', $p) unless S_ISDIR($st[2]);
opendir(my $dh, $p) or fail_errno($p);
my @names = grep { $_ ne '.' && $_ ne '..' } readdir $dh; closedir $dh;
my $count = @names;
@names = grep { substr($_, 0, 1) ne '.' } @names unless $all;
my $hidden = $count - @names;
@names = sort @names;
my ($total, @rows) = (scalar @names);
my $pre = $p =~ m{/\z} ? $p : "$p/";
for my $n (@names) {
  last if @rows >= $max;
  my $f = $pre . $n;
  my @l = $HIRES ? Time::HiRes::lstat($f) : lstat($f);
  unless (@l) { $total--; next }
  my $m = $l[2];
  my $tc = S_ISREG($m) ? '-' : S_ISDIR($m) ? 'd' : S_ISLNK($m) ? 'l' : S_ISFIFO($m) ? 'p' : S_ISSOCK($m) ? 's' : S_ISBLK($m) ? 'b' : S_ISCHR($m) ? 'c' : '?';
  my $t = $tc eq 'l' ? readlink($f) : undef;
  push @rows, [$n, $tc, $l[7], sprintf('%.9f', $l[9]), $m & 07777, defined $t ? 1 : 0, $t];
}
out('ok', $p, $total, $hidden, scalar @rows);
out(@$_) for @rows;
`;

/** write_file: ARGV path, expected byte count, create_dirs (0|1), mode ("" = keep or 0644); the bytes on stdin. As lmcp's atomicWrite. */
const WRITE_FILE = String.raw`
my ($arg, $len, $mk, $mode) = @ARGV;
my $p = user_path($arg);
binmode STDIN; my $data = '';
1 while sysread(STDIN, $data, 1048576, length $data);
refuse('DECODE', $p, length $data) if length($data) != $len;
my ($t, @old) = ($p);
for (my $hop = 0; ; $hop++) {
  if ($hop >= 40) { $! = Errno::ELOOP(); fail_errno($p) }
  my @l = lstat($t);
  unless (@l) { last if $!{ENOENT}; fail_errno($t) }
  if (S_ISLNK($l[2])) {
    my $to = readlink($t); fail_errno($t) unless defined $to;
    $t = norm(substr($to, 0, 1) eq '/' ? $to : dir_of($t) . "/$to", 0); next;
  }
  @old = @l; last;
}
if (@old) { refuse('ISDIR', $p) if S_ISDIR($old[2]); refuse('NOTREG', $p) unless S_ISREG($old[2]) }
my $dir = dir_of($t);
unless (@old) {
  my @d = stat($dir);
  if (@d) { refuse('PARENT_NOTDIR', $dir) unless S_ISDIR($d[2]) }
  else {
    fail_errno($dir) unless $!{ENOENT};
    refuse('PARENT_MISSING', $dir) unless $mk;
    my $acc = '';
    for my $c (grep { length } split m{/}, $dir) { $acc .= "/$c"; next if -d $acc; mkdir($acc, 0777) or ($!{EEXIST} && -d $acc) or fail_errno($acc) }
  }
}
my $perm = length $mode ? oct($mode) : @old ? ($old[2] & 07777) : 0644;
(my $b = $t) =~ s{\A.*/}{}s; $b = substr($b, 0, 40) if length($b) > 180;
my $tmp = ($dir eq '/' ? '' : $dir) . "/.$b.lmcp-tmp-" . join('', map { sprintf '%02x', int rand 256 } 1 .. 6);
sysopen(my $fh, $tmp, O_WRONLY | O_CREAT | O_EXCL, 0600) or fail_errno($tmp);
my $ok = eval {
  my $o = 0;
  while ($o < length $data) { my $n = syswrite($fh, $data, length($data) - $o, $o); die "write\n" unless defined $n; $o += $n }
  my $gid = (split ' ', $()[0];
  if (@old && ($old[4] != $< || $old[5] != $gid)) { chown($old[4], $old[5], $fh) or chown(-1, $old[5], $fh) }
  chmod($perm, $fh) or die "chmod\n";
  $fh->sync or die "fsync\n";
  close($fh) or die "close\n";
  1;
};
unless ($ok) { my $e = $! + 0; unlink $tmp; $! = $e; fail_errno($t) }
unless (rename($tmp, $t)) { my $e = $! + 0; unlink $tmp; $! = $e; fail_errno($t) }
if (open(my $dh, '<', $dir)) { eval { $dh->sync }; close $dh }
out('ok', $p, $t, length $data, @old ? 0 : 1);
`;

/**
 * search_files: ARGV start, all (0|1), max depth ("" = none), max results,
 * has regex (0|1), regex, ignore case (0|1), then the -name patterns.
 * Walks with find -L (errors to a temp file: loops and unreadable
 * directories are counted from them), orders the paths as lmcp's walk does
 * (depth first, names by bytes), and greps with perl's regex engine.
 */
const SEARCH_FILES = String.raw`
my ($arg, $all, $maxd, $maxr, $hasre, $re, $icase, @pats) = @ARGV;
my $p = user_path($arg);
my @st = stat($p); fail_errno($p) unless @st;
my $rx;
if ($hasre) { $rx = eval { $icase ? qr/$re/i : qr/$re/ }; refuse('REGEX', $p, $@) unless defined $rx }
(my $fp = $p) =~ s{/+\z}{}; $fp = '/' if $fp eq '';
(my $esc = $fp) =~ s{([\\*?\[\]])}{\\$1}g;
my @expr = ('-L', $fp);
push @expr, '-maxdepth', $maxd if length $maxd;
push @expr, '(', '!', '-path', $esc, '-name', '.*', '-prune', ')', '-o' unless $all;
my @alt = map { ('-o', '-name', $_) } @pats; shift @alt;
push @expr, '(', '(', @alt, ')', '-print0', ')';
my $errf; open($errf, '+>', undef) or undef $errf;
$ENV{LC_CTYPE} = delete $ENV{LC_ALL} if defined $ENV{LC_ALL} && length $ENV{LC_ALL};
$ENV{LC_MESSAGES} = 'C';
open(my $saved, '>&', \*STDERR) or die "dup: $!\n";
if ($errf) { open(STDERR, '>&', $errf) } else { open(STDERR, '>', '/dev/null') }
my $pid = open(my $fh, '-|', 'find', @expr);
open(STDERR, '>&', $saved);
refuse('FIND', $p, "$!") unless $pid;
my @found;
{ local $/ = "\0"; while (defined(my $l = <$fh>)) { chomp $l; push @found, $l } }
close $fh;
my ($cycles, $unread, @unpaths, @events) = (0, 0);
sub unreadable { $unread++; push @unpaths, $_[0] if @unpaths < 20 }
# find's complaints become events placed in walk order (so that, as in lmcp, those after a max_results cut are not counted).
if ($errf) {
  seek($errf, 0, 0);
  while (my $l = <$errf>) {
    chomp $l;
    next unless $l =~ /\S/;
    # Vanished entries, and symlinks that loop on themselves (lmcp skips those silently).
    next if $l =~ /No such file or directory|Too many levels of symbolic links/;
    if ($l =~ /loop|cycle/i) {
      my $x;
      if ($l =~ /detected; (?:'|\xe2\x80\x98)(.*?)(?:'|\xe2\x80\x99) is part of/) { $x = $1 }
      elsif ($l =~ /\Afind: (.*): directory causes a cycle/) { $x = $1 }
      if (defined $x) { push @events, [$x, 'c'] } else { $cycles++ }
      next;
    }
    my $q = $l; $q =~ s/\Afind: //; $q =~ s/: [^:]*\z//;
    $q =~ s/\A(?:'|\xe2\x80\x98)(.*)(?:'|\xe2\x80\x99)\z/$1/s;
    push @events, [$q, 'u'];
  }
}
sub parts_cmp { my ($x, $y) = @_; my $n = @$x < @$y ? @$x : @$y;
  for my $i (0 .. $n - 1) { my $c = $x->[$i] cmp $y->[$i]; return $c if $c } return @$x <=> @$y }
my $plen = $fp eq '/' ? 1 : length($fp) + 1;
sub parts { my ($x) = @_; return [] if $x eq $fp; return [split m{/}, (substr($x, 0, $plen) eq ($fp eq '/' ? '/' : "$fp/") ? substr($x, $plen) : $x), -1] }
my @keyed = sort { parts_cmp($a->[1], $b->[1]) || $a->[2] cmp $b->[2] } ((map { [$_, parts($_), ''] } @found), (map { [$_->[0], parts($_->[0]), $_->[1]] } @events));
my (@matches, @lines); my ($trunc, $bin, $large) = (0, 0, 0);
for my $k (@keyed) {
  my $path = $k->[0]; my $shown = $path eq $fp ? $p : $path;
  if ($k->[2] eq 'c') { $cycles++; next }
  if ($k->[2] eq 'u') { unreadable($shown); next }
  unless ($rx) { if (@matches >= $maxr) { $trunc = 1; last } push @matches, $shown; next }
  next unless -f $path;
  if (-s _ > 16777216) { $large++; next }
  my $g;
  unless (open($g, '<:raw', $path)) { unreadable($shown) unless $!{ENOENT}; next }
  my $buf = do { local $/; <$g> }; close $g; $buf = '' unless defined $buf;
  if (index(substr($buf, 0, 8192), "\0") >= 0) { $bin++; next }
  utf8::decode($buf);
  my @ls = split /\n/, $buf, -1; pop @ls if @ls && $ls[-1] eq '';
  my ($found, $no) = (0, 0);
  for my $line (@ls) {
    $no++; $line =~ s/\r\z//;
    next unless $line =~ $rx;
    if (@lines >= $maxr) { $trunc = 1; last }
    push @matches, $shown unless $found; $found = 1;
    my $t = length($line) > 500 ? substr($line, 0, 500) : $line;
    utf8::encode($t) if utf8::is_utf8($t);
    push @lines, "$shown:$no:$t";
  }
  last if $trunc;
}
out('ok', $p, $trunc, $cycles, $unread, $bin, $large, scalar @unpaths, @unpaths, scalar @matches, @matches, scalar @lines, @lines);
`;

/**
 * shell: ARGV cwd ("" = home), timeout_s, command, then env names and values.
 * Runs the command with bash -c (sh where bash is missing) in its own process
 * group, ends the group on timeout (SIGTERM, SIGKILL 2 s later) or when the
 * session's lifeline ends, and writes its status to fd 3:
 * `exit:CODE:TIMEDOUT:MS`, `signal:NAME:TIMEDOUT:MS` or `cwd:ERRNO` (then
 * stdout holds the directory, home and error text as netstrings). The
 * command's stdout and stderr are its own.
 */
const SHELL = String.raw`
my ($cwdarg, $timeout, $cmd, @kv) = @ARGV;
open(my $st, '>&=', 3) or die "lmcp: no status channel: $!\n";
sub status { print {$st} $_[0]; close $st }
my $dir = user_path(length $cwdarg ? $cwdarg : '~');
my @s = stat($dir);
sub bad_cwd { out($dir, $HOME, $_[1]); status("cwd:$_[0]"); exit 0 }
unless (@s) { my $m = "$!"; bad_cwd(ecode(), $m) }
bad_cwd('ENOTDIR', 'Not a directory') unless S_ISDIR($s[2]);
unless (chdir $dir) { my $m = "$!"; bad_cwd(ecode(), $m) }
my %given;
while (@kv) { my ($k, $v) = splice(@kv, 0, 2); $ENV{$k} = $v; $given{$k} = 1 }
delete $ENV{LMCP_TOKEN} unless $given{LMCP_TOKEN};
my $now = $HIRES ? \&Time::HiRes::time : sub { time };
my $t0 = $now->();
my $stop = 0;
$SIG{TERM} = $SIG{HUP} = $SIG{INT} = sub { $stop = 1 };
my $pid = fork;
unless (defined $pid) { print STDERR "lmcp: fork failed: $!\n"; status('error:fork'); exit 0 }
if ($pid == 0) {
  $SIG{TERM} = $SIG{HUP} = $SIG{INT} = 'DEFAULT';
  setpgrp(0, 0); POSIX::close(3);
  { no warnings 'exec'; exec('bash', '-c', $cmd); exec('/bin/sh', '-c', $cmd); }
  print STDERR "lmcp: cannot run bash or /bin/sh: $!\n"; POSIX::_exit(127);
}
my ($timed, $termed, $killat) = (0, 0, 0);
my $deadline = $t0 + $timeout;
my $nap = 0.001;
while (1) {
  my $r = waitpid($pid, POSIX::WNOHANG());
  last if $r == $pid || $r == -1;
  my $t = $now->();
  if (!$termed && ($stop || $t >= $deadline)) { $timed = 1 unless $stop; $termed = 1; kill('TERM', -$pid); $killat = $t + 2 }
  elsif ($killat && $t >= $killat) { kill('KILL', -$pid); $killat = 0 }
  select(undef, undef, undef, $nap); $nap *= 2 if $nap < 0.016;
}
my $w = $?;
my $ms = $HIRES ? int(($now->() - $t0) * 1000 + 0.5) : '';
my @sig = split ' ', $Config{sig_name};
if (POSIX::WIFSIGNALED($w)) { my $n = POSIX::WTERMSIG($w); status('signal:SIG' . ($sig[$n] // $n) . ":$timed:$ms") }
else { status('exit:' . POSIX::WEXITSTATUS($w) . ":$timed:$ms") }
`;

export const perlPrograms = {
  readFile: READ_FILE,
  listDir: LIST_DIR,
  writeFile: WRITE_FILE,
  searchFiles: SEARCH_FILES,
  shell: SHELL,
} as const;

export type PerlProgram = keyof typeof perlPrograms;

/** `perl -e '…' -- 'arg' …`: the program and every argument quoted for the remote shell. */
export function perlCommand(program: PerlProgram, args: (string | number)[]): string {
  return ["perl", "-e", shQuote(PRELUDE + perlPrograms[program]), "--", ...args.map((a) => shQuote(String(a)))].join(" ");
}
