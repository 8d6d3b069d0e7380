# lmcp_remote.pl: the program the hub's SSH fallback runs on a backend, as
# `perl -` with this text and then, after __DATA__, the request (base64 of
# netstrings): the operation, the backend's file policy and the arguments.
# Nothing travels on a command line, which any user could read in /proc.
#
# Only modules of Debian's perl-base are used (Time::HiRes is optional), and
# it behaves the same on Linux and macOS. Answers go to stdout as netstrings
# (`LEN:BYTES`): "ok" and the data, or "err", a code and the path concerned.
#
# The file policy holds on real paths and cannot be raced: a path is resolved
# to its real path (every link followed), the policy decides on that, and the
# file is then reached from / one component at a time, each directory opened
# with O_NOFOLLOW|O_DIRECTORY and entered with fchdir, the last component
# lstat'ed and opened with O_NOFOLLOW. A link swapped in after the decision
# makes the walk fail (code RACE) instead of leading elsewhere.
use strict; use warnings; no warnings qw(uninitialized once);
use POSIX (); use Errno (); use IO::Handle; use Config;
use Fcntl qw(:mode O_RDONLY O_WRONLY O_CREAT O_EXCL O_NOFOLLOW O_NONBLOCK O_DIRECTORY);
binmode STDOUT;
my $HIRES = eval { require Time::HiRes; defined &Time::HiRes::lstat } ? 1 : 0;
my $HOME = (defined $ENV{HOME} && length $ENV{HOME}) ? $ENV{HOME} : ((getpwuid($<))[7] // '/');

sub out { for my $f (@_) { my $s = defined $f ? "$f" : ''; print length($s), ':', $s } }
sub ecode { my $n = $! + 0; local $! = $n; for my $k (keys %!) { return $k if $!{$k} } return "E$n" }
sub fail_errno { my ($path) = @_; my $m = "$!"; out('err', ecode(), $path, $m); exit 0 }
sub refuse { out('err', @_); exit 0 }

# ---- the request ----------------------------------------------------------

# base64 to bytes without MIME::Base64 (not in perl-base): as uuencoded lines, which unpack('u') reads.
sub b64d { my ($s) = @_;
  $s =~ tr{A-Za-z0-9+/}{}cd; $s =~ tr{A-Za-z0-9+/}{ -_};
  my $uu = ''; my $i = 0;
  for (; $i + 60 <= length $s; $i += 60) { $uu .= 'M' . substr($s, $i, 60) }
  my $rest = substr($s, $i);
  $uu .= chr(32 + int(length($rest) * 3 / 4)) . $rest if length $rest;
  return length $uu ? unpack('u', $uu) : '' }

sub netstrings { my ($s) = @_; my @f; my $pos = 0;
  while ($pos < length $s) {
    my $c = index($s, ':', $pos);
    my $n = $c < 0 ? '' : substr($s, $pos, $c - $pos);
    die "lmcp: malformed request from the hub\n" unless $n =~ /\A\d{1,15}\z/ && $c + 1 + $n <= length $s;
    push @f, substr($s, $c + 1, $n); $pos = $c + 1 + $n;
  }
  return @f }

binmode DATA;
my @F = netstrings(b64d(do { local $/; my $t = <DATA>; defined $t ? $t : '' }));
my $OP = shift @F;
my $NALLOW = shift @F;
my @ALLOWED_ARGS = $NALLOW eq '' ? () : splice(@F, 0, $NALLOW);
my @HUB_SECRETS = splice(@F, 0, shift @F);

# ---- paths ----------------------------------------------------------------

# Lexical normalization as node's path.normalize: '.', '..' and '//' go, a trailing '/' stays when asked.
sub norm { my ($p, $trail) = @_; my @o;
  for my $s (split m{/}, $p) { next if $s eq '' || $s eq '.'; if ($s eq '..') { pop @o } else { push @o, $s } }
  my $r = '/' . join('/', @o); $r .= '/' if $trail && $r ne '/' && $p =~ m{/\z}; return $r }
# As lmcp's resolveUserPath: '~' and '~/x' mean home, relative paths start from home.
sub user_path { my ($p) = @_; return $HOME if $p eq '~';
  if (substr($p, 0, 2) eq '~/') { my $x = substr($p, 2); return length $x ? norm("$HOME/$x", 1) : norm($HOME, 1) }
  return norm(substr($p, 0, 1) eq '/' ? $p : "$HOME/$p", 0) }
sub dir_of { my ($p) = @_; $p =~ s{/+\z}{} unless $p eq '/'; $p =~ s{/[^/]*\z}{}; return length $p ? $p : '/' }
sub base_of { my ($p) = @_; $p =~ s{/+\z}{}; $p =~ s{\A.*/}{}s; return $p }

# The real path of an absolute path, as realpath(3), one component at a time
# (lstat, readlink); for a path that does not exist (yet), the real path of its
# longest existing prefix plus the rest as written.
sub real_path { my ($p) = @_;
  my @todo = grep { length && $_ ne '.' } split m{/}, $p;
  my @done; my $hops = 0;
  while (@todo) {
    my $c = shift @todo;
    if ($c eq '..') { pop @done; next }
    my $cur = '/' . join('/', @done, $c);
    my @l = lstat($cur);
    unless (@l) { push @done, $c; for my $d (@todo) { if ($d eq '..') { pop @done } else { push @done, $d } } last }
    if (S_ISLNK($l[2]) && ++$hops <= 40) {
      my $t = readlink($cur);
      unless (defined $t) { push @done, $c, @todo; last }
      @done = () if substr($t, 0, 1) eq '/';
      unshift @todo, grep { length && $_ ne '.' } split m{/}, $t;
      next;
    }
    push @done, $c;
  }
  return '/' . join('/', @done) }

# ---- the policy -----------------------------------------------------------

sub within { my ($p, $root) = @_; return 1 if $p eq $root || $root eq '/';
  return substr($p, 0, length($root) + 1) eq "$root/" }
sub rotation_of { my ($p, $f) = @_; return $p eq $f || (substr($p, 0, length($f) + 1) eq "$f." && substr($p, length($f) + 1) =~ /\A\d+\z/) }
sub xdg { my ($var, $default) = @_; my $v = $ENV{$var}; return (defined $v && substr($v, 0, 1) eq '/') ? $v : "$HOME/$default" }

my $ALLOWED = $NALLOW eq '' ? undef : [map { my $r = real_path(user_path($_)); $r =~ s{/+\z}{} unless $r eq '/'; $r } @ALLOWED_ARGS];
my $STATE = real_path(xdg('XDG_STATE_HOME', '.local/state') . '/lmcp');
# Never read or written: /etc/lmcp and the user's lmcp config dir whole, the audit logs, and the files the hub names.
my @SECRET_DIRS = map { real_path($_) } '/etc/lmcp', xdg('XDG_CONFIG_HOME', '.config') . '/lmcp';
my @SECRET_FILES = ("$STATE/audit.jsonl", "$STATE/hub-audit.jsonl", map { ($_, real_path($_)) } grep { substr($_, 0, 1) eq '/' } @HUB_SECRETS);
# Their inodes too, so a hard link to one is refused as well.
my %SECRET_INODE;
sub note_inode { my @s = stat($_[0]); $SECRET_INODE{"$s[0]:$s[1]"} = 1 if @s && S_ISREG($s[2]) }
for my $f (@SECRET_FILES) { note_inode($f); for my $i (1 .. 9) { last unless -e "$f.$i"; note_inode("$f.$i") } }
for my $d (@SECRET_DIRS) { if (opendir(my $h, $d)) { my $n = 0; for my $e (readdir $h) { last if ++$n > 500; note_inode("$d/$e") } closedir $h } }

# Why `real` may not be used for `access` ('read' or 'write'): a code, or '' when it may.
sub refusal { my ($real, $access, @st) = @_;
  return 'OUTSIDE' if $ALLOWED && !grep { within($real, $_) } @$ALLOWED;
  return 'SECRET' if grep({ within($real, $_) } @SECRET_DIRS) || grep({ rotation_of($real, $_) } @SECRET_FILES) || (@st && $SECRET_INODE{"$st[0]:$st[1]"});
  # Any process's memory and environment hold its secrets.
  return 'SECRET' if $real =~ m{\A/proc/[^/]+/(?:task/[^/]+/)?(?:environ|mem)\z};
  if ($access eq 'write') {
    return 'PROTECTED' if base_of($real) =~ /\Aauthorized_keys2?\z/i;
    return 'STATE' if within($real, $STATE);
  }
  return '' }
sub guard { my ($real, $access, @st) = @_; my $why = refusal($real, $access, @st); refuse($why, $real) if $why }

# ---- opening without following links --------------------------------------

# Enters directory `dir` (a real path) from /, one component at a time, never
# following a link. With `mk`, creates missing components. '' on success, else
# a code: RACE (a link where the real path had none), or an errno name, with
# the index of the component that failed.
sub enter_dir { my ($dir, $mk) = @_;
  chdir('/') or return (ecode(), 0);
  my @c = grep { length } split m{/}, $dir;
  for my $i (0 .. $#c) {
    my $h;
    unless (sysopen($h, $c[$i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) {
      my $e = ecode();
      my @l = lstat($c[$i]);
      return ('RACE', $i) if @l && S_ISLNK($l[2]);
      return ($e, $i) unless $e eq 'ENOENT' && $mk;
      mkdir($c[$i], 0777) or $!{EEXIST} or return (ecode(), $i);
      sysopen($h, $c[$i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW) or return (ecode(), $i);
    }
    chdir($h) or return (ecode(), $i);
    close $h;
  }
  return ('', 0) }

# Opens the regular file at `real` for reading after the policy allows it. Its
# type is checked with lstat before anything is opened (a FIFO or device is
# never opened), and the opened file must be the one checked. Returns
# ($fh, @stat), or (undef, code) where code is an errno name, RACE, ISDIR, NOTREG or a refusal.
sub open_regular { my ($real) = @_;
  my ($e) = enter_dir(dir_of($real), 0);
  return (undef, $e) if $e;
  my $b = base_of($real);
  return (undef, 'ISDIR') if $b eq '';
  my @l = lstat($b);
  return (undef, ecode()) unless @l;
  return (undef, 'RACE') if S_ISLNK($l[2]);
  return (undef, 'ISDIR') if S_ISDIR($l[2]);
  return (undef, 'NOTREG') unless S_ISREG($l[2]);
  my $fh;
  sysopen($fh, $b, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) or return (undef, ecode());
  my @st = stat($fh);
  return (undef, 'RACE') unless @st && $st[0] == $l[0] && $st[1] == $l[1];
  my $why = refusal($real, 'read', @st);
  return (undef, $why) if $why;
  return ($fh, @st) }

# For ops that answer at once: a code from above becomes the reply.
sub open_or_refuse { my ($real, $shown) = @_;
  my ($fh, @rest) = open_regular($real);
  return ($fh, @rest) if $fh;
  my $code = $rest[0];
  refuse($code, $shown) if $code =~ /\A(?:RACE|ISDIR|NOTREG)\z/;
  refuse($code, $real) if $code =~ /\A(?:OUTSIDE|SECRET|PROTECTED|STATE)\z/;
  $! = Errno->can($code) ? Errno->can($code)->() : 0;
  fail_errno($shown) }

# ---- read_file ------------------------------------------------------------

# path, mode (utf8|base64), max bytes fetched (utf8), offset, limit ("" = none), bytes that fit a reply (base64).
sub op_read { my ($arg, $mode, $max, $off, $lim, $fit) = @F;
  my $p = user_path($arg);
  my $real = real_path($p);
  guard($real, 'read');
  my ($fh, @st) = open_or_refuse($real, $p);
  if ($mode eq 'utf8') {
    refuse('TOOBIG', $p, $st[7]) if $st[7] > $max;
    my ($buf, $n) = ('');
    while ($n = sysread($fh, $buf, 1048576, length $buf)) { refuse('TOOBIG', $p, length $buf) if length($buf) > $max }
    fail_errno($p) unless defined $n;
    out('ok', $p, $buf);
    return;
  }
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
  out('ok', $p, $size, $head, $bytes) }

# ---- list_dir -------------------------------------------------------------

# path, all (0|1), max entries. Names sorted by bytes (lmcp sorts by UTF-16 code units: the same order for all but rare non-BMP names).
sub op_list { my ($arg, $all, $max) = @F;
  my $p = user_path($arg);
  my $real = real_path($p);
  guard($real, 'read');
  my ($e) = enter_dir(dir_of($real), 0);
  if ($e) { refuse($e, $p) if $e eq 'RACE'; $! = Errno->can($e) ? Errno->can($e)->() : 0; fail_errno($p) }
  my $b = base_of($real);
  if ($b ne '') {
    my @l = lstat($b); fail_errno($p) unless @l;
    refuse('RACE', $p) if S_ISLNK($l[2]);
    refuse(S_ISREG($l[2]) ? 'ISFILE' : 'NOTDIR', $p) unless S_ISDIR($l[2]);
    my $h; sysopen($h, $b, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) or fail_errno($p);
    chdir($h) or fail_errno($p); close $h;
  }
  opendir(my $dh, '.') or fail_errno($p);
  my @names = grep { $_ ne '.' && $_ ne '..' } readdir $dh; closedir $dh;
  my $count = @names;
  @names = grep { substr($_, 0, 1) ne '.' } @names unless $all;
  my $hidden = $count - @names;
  @names = sort @names;
  my ($total, @rows) = (scalar @names);
  for my $n (@names) {
    last if @rows >= $max;
    my @l = $HIRES ? Time::HiRes::lstat($n) : lstat($n);
    unless (@l) { $total--; next }
    my $m = $l[2];
    my $tc = S_ISREG($m) ? '-' : S_ISDIR($m) ? 'd' : S_ISLNK($m) ? 'l' : S_ISFIFO($m) ? 'p' : S_ISSOCK($m) ? 's' : S_ISBLK($m) ? 'b' : S_ISCHR($m) ? 'c' : '?';
    my $t = $tc eq 'l' ? readlink($n) : undef;
    push @rows, [$n, $tc, $l[7], sprintf('%.9f', $l[9]), $m & 07777, defined $t ? 1 : 0, $t];
  }
  out('ok', $p, $total, $hidden, scalar @rows);
  out(@$_) for @rows }

# ---- write_file -----------------------------------------------------------

# path, create_dirs (0|1), mode ("" = keep or 0644), the bytes, their count. As lmcp's atomicWrite:
# a temp file beside the target, renamed over it, both relative to the directory entered link-free.
sub op_write { my ($arg, $mk, $mode, $data, $len) = @F;
  my $p = user_path($arg);
  refuse('DECODE', $p, length $data) if length($data) != $len;
  # The file a write through links lands on, as lmcp words it (links followed at the last component).
  my $t = $p;
  for (my $hop = 0; ; $hop++) {
    if ($hop >= 40) { $! = Errno::ELOOP(); fail_errno($p) }
    my @l = lstat($t);
    last unless @l && S_ISLNK($l[2]);
    my $to = readlink($t); fail_errno($t) unless defined $to;
    $t = norm(substr($to, 0, 1) eq '/' ? $to : dir_of($t) . "/$to", 0);
  }
  my $real = real_path($p);
  refuse('PROTECTED', $p) if base_of($p) =~ /\Aauthorized_keys2?\z/i;
  guard($real, 'write');
  my $shown_dir = dir_of($t);
  my $dir = dir_of($real);
  my @parts = grep { length } split m{/}, $dir;
  my ($e, $at) = enter_dir($dir, $mk);
  if ($e) {
    refuse('RACE', $p) if $e eq 'RACE';
    refuse('PARENT_MISSING', $shown_dir) if $e eq 'ENOENT' && !$mk;
    refuse('PARENT_NOTDIR', $shown_dir) if $e eq 'ENOTDIR' && $at == $#parts;
    $! = Errno->can($e) ? Errno->can($e)->() : 0; fail_errno($shown_dir);
  }
  my $b = base_of($real);
  refuse('ISDIR', $p) if $b eq '';
  my @old = lstat($b);
  unless (@old) { fail_errno($t) unless $!{ENOENT} }
  if (@old) {
    refuse('RACE', $p) if S_ISLNK($old[2]);
    refuse('ISDIR', $p) if S_ISDIR($old[2]);
    refuse('NOTREG', $p) unless S_ISREG($old[2]);
    guard($real, 'write', @old);
  }
  my $perm = length $mode ? oct($mode) : @old ? ($old[2] & 07777) : 0644;
  my $short = length($b) > 180 ? substr($b, 0, 40) : $b;
  my $tmp = ".$short.lmcp-tmp-" . join('', map { sprintf '%02x', int rand 256 } 1 .. 6);
  sysopen(my $fh, $tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600) or fail_errno($shown_dir . "/$tmp");
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
  unless ($ok) { my $n = $! + 0; unlink $tmp; $! = $n; fail_errno($t) }
  unless (rename($tmp, $b)) { my $n = $! + 0; unlink $tmp; $! = $n; fail_errno($t) }
  if (open(my $dh, '<', '.')) { eval { $dh->sync }; close $dh }
  out('ok', $p, $t, length $data, @old ? 0 : 1) }

# ---- search_files ---------------------------------------------------------

# start, all (0|1), max depth ("" = none), max results, has regex (0|1), regex,
# ignore case (0|1), pattern count, the -name patterns. Walks with find -L
# (errors to a temp file: loops and unreadable directories are counted from
# them), orders the paths as lmcp's walk does (depth first, names by bytes),
# drops every path the policy refuses, and greps with perl's regex engine.
sub op_search { my ($arg, $all, $maxd, $maxr, $hasre, $re, $icase, $npat, @pats) = @F;
  my $p = user_path($arg);
  my $real_start = real_path($p);
  guard($real_start, 'read');
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
  # The real path of a found path, its directory's resolved once.
  my %dir_real;
  my $real_of = sub { my ($x) = @_; my $d = dir_of($x); my $rd = $dir_real{$d} //= real_path($d);
    my $r = ($rd eq '/' ? '' : $rd) . '/' . base_of($x); my @l = lstat($r); return (@l && S_ISLNK($l[2])) ? real_path($r) : $r };
  my $allowed = sub { my ($x) = @_; return $x eq $fp || refusal($real_of->($x), 'read') eq '' };
  my ($cycles, $unread, @unpaths, @events) = (0, 0);
  my $unreadable = sub { $unread++; push @unpaths, $_[0] if @unpaths < 20 };
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
      push @events, [$q, 'u'] if $allowed->($q);
    }
  }
  my $parts_cmp = sub { my ($x, $y) = @_; my $n = @$x < @$y ? @$x : @$y;
    for my $i (0 .. $n - 1) { my $c = $x->[$i] cmp $y->[$i]; return $c if $c } return @$x <=> @$y };
  my $plen = $fp eq '/' ? 1 : length($fp) + 1;
  my $parts = sub { my ($x) = @_; return [] if $x eq $fp; return [split m{/}, (substr($x, 0, $plen) eq ($fp eq '/' ? '/' : "$fp/") ? substr($x, $plen) : $x), -1] };
  my @keyed = sort { $parts_cmp->($a->[1], $b->[1]) || $a->[2] cmp $b->[2] }
    ((map { [$_, $parts->($_), ''] } grep { $allowed->($_) } @found), (map { [$_->[0], $parts->($_->[0]), $_->[1]] } @events));
  my (@matches, @lines); my ($trunc, $bin, $large) = (0, 0, 0);
  for my $k (@keyed) {
    my $path = $k->[0]; my $shown = $path eq $fp ? $p : $path;
    if ($k->[2] eq 'c') { $cycles++; next }
    if ($k->[2] eq 'u') { $unreadable->($shown); next }
    unless ($rx) { if (@matches >= $maxr) { $trunc = 1; last } push @matches, $shown; next }
    my $real = $real_of->($path);
    my @l = lstat($real);
    next unless @l && S_ISREG($l[2]);
    if ($l[7] > 16777216) { $large++; next }
    my ($g, @why) = open_regular($real);
    unless ($g) { $unreadable->($shown) if $why[0] =~ /\AE/ && $why[0] ne 'ENOENT'; next }
    my $buf = ''; 1 while sysread($g, $buf, 1048576, length $buf); close $g;
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
  out('ok', $p, $trunc, $cycles, $unread, $bin, $large, scalar @unpaths, @unpaths, scalar @matches, @matches, scalar @lines, @lines) }

# ---- shell ----------------------------------------------------------------

# cwd ("" = home), timeout_s, command, has stdin (0|1), stdin, env count, then
# env names and values. Runs the command with bash (sh where bash is missing)
# in its own process group, the command passed in the environment and run by
# `eval`, so it is on no command line; ends the group on timeout (SIGTERM,
# SIGKILL 2 s later) or when the session's lifeline ends, and writes its
# status to fd 3: `exit:CODE:TIMEDOUT:MS`, `signal:NAME:TIMEDOUT:MS` or
# `cwd:ERRNO` (then stdout holds the directory, home and error text as
# netstrings). The command's stdout and stderr are its own.
sub op_shell { my ($cwdarg, $timeout, $cmd, $hasin, $input, $nenv, @kv) = @F;
  open(my $st, '>&=', 3) or die "lmcp: no status channel: $!\n";
  my $status = sub { print {$st} $_[0]; close $st };
  my $dir = user_path(length $cwdarg ? $cwdarg : '~');
  my $bad_cwd = sub { out($dir, $HOME, $_[1]); $status->("cwd:$_[0]"); exit 0 };
  my @s = stat($dir);
  unless (@s) { my $m = "$!"; $bad_cwd->(ecode(), $m) }
  $bad_cwd->('ENOTDIR', 'Not a directory') unless S_ISDIR($s[2]);
  unless (chdir $dir) { my $m = "$!"; $bad_cwd->(ecode(), $m) }
  # The command's stdin: the bytes given, from an unlinked temp file (no process left to feed a pipe), else /dev/null.
  my $in;
  if ($hasin) {
    open($in, '+>', undef) or do { print STDERR "lmcp: no temp file for stdin: $!\n"; $status->('error:stdin'); exit 0 };
    binmode $in; print {$in} $input; $in->flush; sysseek($in, 0, 0); seek($in, 0, 0);
  }
  my %given;
  my @pairs = splice(@kv, 0, 2 * $nenv);
  my $now = $HIRES ? \&Time::HiRes::time : sub { time };
  my $t0 = $now->();
  my $stop = 0;
  $SIG{TERM} = $SIG{HUP} = $SIG{INT} = sub { $stop = 1 };
  my $pid = fork;
  unless (defined $pid) { print STDERR "lmcp: fork failed: $!\n"; $status->('error:fork'); exit 0 }
  if ($pid == 0) {
    $SIG{TERM} = $SIG{HUP} = $SIG{INT} = 'DEFAULT';
    setpgrp(0, 0); POSIX::close(3);
    if ($in) { open(STDIN, '<&', $in) } else { open(STDIN, '<', '/dev/null') }
    while (@pairs) { my ($k, $v) = splice(@pairs, 0, 2); $ENV{$k} = $v; $given{$k} = 1 }
    delete $ENV{LMCP_TOKEN} unless $given{LMCP_TOKEN};
    $ENV{LMCP_REMOTE_COMMAND} = $cmd;
    my $run = 'eval "unset LMCP_REMOTE_COMMAND; $LMCP_REMOTE_COMMAND"';
    { no warnings 'exec'; exec('bash', '-c', $run); exec('/bin/sh', '-c', $run); }
    print STDERR "lmcp: cannot run bash or /bin/sh: $!\n"; POSIX::_exit(127);
  }
  close $in if $in;
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
  if (POSIX::WIFSIGNALED($w)) { my $n = POSIX::WTERMSIG($w); $status->('signal:SIG' . ($sig[$n] // $n) . ":$timed:$ms") }
  else { $status->('exit:' . POSIX::WEXITSTATUS($w) . ":$timed:$ms") } }

# ---- transfer_read / transfer_write: files of any size, in chunks -----------

# The sha256 (hex) of all the open file holds: Digest::SHA where perl has it
# (not in perl-base), else sha256sum (coreutils) or shasum reading that same
# open file as its stdin; '' when none is there.
sub sha256_of { my ($fh) = @_;
  sysseek($fh, 0, 0) or return '';
  if (eval { require Digest::SHA; 1 }) {
    my $d = Digest::SHA->new(256); my $buf;
    while (1) { my $n = sysread($fh, $buf, 1048576); return '' unless defined $n; last if $n == 0; $d->add($buf) }
    return $d->hexdigest;
  }
  my $pid = open(my $out, '-|');
  return '' unless defined $pid;
  if ($pid == 0) {
    open(STDIN, '<&', $fh) or POSIX::_exit(127); open(STDERR, '>', '/dev/null');
    { no warnings 'exec'; exec('sha256sum'); exec('shasum', '-a', '256'); }
    POSIX::_exit(127);
  }
  my $line = <$out>; close $out;
  return (defined $line && $line =~ /\A([0-9a-f]{64})\b/) ? $1 : '' }

# path, offset, length, sha ('' = on the last chunk, 1 = always, 0 = never). Answers the path, size,
# mode, the bytes, eof (0|1) and the sha256 of the whole file ('' when not asked for).
sub op_transfer_read { my ($arg, $off, $len, $want) = @F;
  my $p = user_path($arg);
  my $real = real_path($p);
  guard($real, 'read');
  my ($fh, @st) = open_or_refuse($real, $p);
  my $size = $st[7];
  refuse('PAST_END', $p, $size) if $off > $size;
  my $n = $size - $off < $len ? $size - $off : $len;
  my $bytes = '';
  if ($n > 0) {
    sysseek($fh, $off, 0) or fail_errno($p);
    while (length($bytes) < $n) { my $r = sysread($fh, $bytes, $n - length($bytes), length $bytes); fail_errno($p) unless defined $r; last if $r == 0 }
  }
  my $eof = $off + length($bytes) >= $size ? 1 : 0;
  my $sha = '';
  if ($want eq '1' || ($want eq '' && $eof)) { $sha = sha256_of($fh); refuse('NOSHA', $p) if $sha eq '' }
  out('ok', $p, $size, $st[2] & 07777, $bytes, $eof, $sha) }

# The target of a write, as op_write finds it: links followed at the last
# component, the policy asked on the real path, its directory entered
# link-free (created with `mk`). Returns (shown path, real path, name, lstat of the existing file).
sub enter_write_target { my ($p, $mk) = @_;
  my $t = $p;
  for (my $hop = 0; ; $hop++) {
    if ($hop >= 40) { $! = Errno::ELOOP(); fail_errno($p) }
    my @l = lstat($t);
    last unless @l && S_ISLNK($l[2]);
    my $to = readlink($t); fail_errno($t) unless defined $to;
    $t = norm(substr($to, 0, 1) eq '/' ? $to : dir_of($t) . "/$to", 0);
  }
  my $real = real_path($p);
  refuse('PROTECTED', $p) if base_of($p) =~ /\Aauthorized_keys2?\z/i;
  guard($real, 'write');
  my $shown_dir = dir_of($t);
  my @parts = grep { length } split m{/}, dir_of($real);
  my ($e, $at) = enter_dir(dir_of($real), $mk);
  if ($e) {
    refuse('RACE', $p) if $e eq 'RACE';
    refuse('PARENT_MISSING', $shown_dir) if $e eq 'ENOENT' && !$mk;
    refuse('PARENT_NOTDIR', $shown_dir) if $e eq 'ENOTDIR' && $at == $#parts;
    $! = Errno->can($e) ? Errno->can($e)->() : 0; fail_errno($shown_dir);
  }
  my $b = base_of($real);
  refuse('ISDIR', $p) if $b eq '';
  my @old = lstat($b);
  unless (@old) { fail_errno($t) unless $!{ENOENT} }
  if (@old) {
    refuse('RACE', $p) if S_ISLNK($old[2]);
    refuse('ISDIR', $p) if S_ISDIR($old[2]);
    refuse('NOTREG', $p) unless S_ISREG($old[2]);
    guard($real, 'write', @old);
  }
  return ($t, $real, $b, @old) }

# An hour idle, as lmcp's own uploads: older temps of uploads to the same name are removed when a new one starts.
my $UPLOAD_IDLE_S = 3600;

# path, create_dirs (0|1), upload id, offset, the bytes, their count, final (0|1), sha256, mode ("" = keep or 0644),
# cancel (0|1). As lmcp's transfer_write: the upload is the temp file `.NAME.lmcp-tmp-ID` beside the target (the
# same name lmcp uses, so either side can continue it), cut at offset and written; on final its sha256 is checked,
# then it is fsynced and renamed over the target. Answers the path, id, bytes received, and 'pending', 'cancelled'
# or 'done' (then the file written, its sha256, mode and created 0|1).
sub op_transfer_write { my ($arg, $mk, $id, $off, $data, $len, $final, $want, $mode, $cancel) = @F;
  my $p = user_path($arg);
  refuse('DECODE', $p, length $data) if length($data) != $len;
  refuse('NOUPLOAD', $p, $id) unless $id =~ /\A[0-9a-f]{12}\z/;
  my ($t, $real, $b, @old) = enter_write_target($p, $mk);
  my $short = length($b) > 180 ? substr($b, 0, 40) : $b;
  my $tmp = ".$short.lmcp-tmp-$id";
  my $fh; my @ts;
  my @l = lstat($tmp);
  if (!@l) {
    refuse('NOUPLOAD', $p, $id) if $off != 0 && !$cancel;
    if ($cancel) { out('ok', $p, $id, 0, 'cancelled'); return }
    if (opendir(my $dh, '.')) {
      my $now = time;
      for my $e (readdir $dh) {
        next unless $e =~ /\A\.\Q$short\E\.lmcp-tmp-[0-9a-f]{12}\z/;
        my @s = lstat($e);
        unlink $e if @s && S_ISREG($s[2]) && $s[4] == $< && $now - $s[9] > $UPLOAD_IDLE_S;
      }
      closedir $dh;
    }
    sysopen($fh, $tmp, Fcntl::O_RDWR() | O_CREAT | O_EXCL | O_NOFOLLOW, 0600) or fail_errno(dir_of($t) . "/$tmp");
    @ts = stat($fh);
  } else {
    # Continued only if it is plainly an upload of ours: a regular file with one link, our uid, no secret.
    refuse('NOUPLOAD', $p, $id) unless S_ISREG($l[2]) && $l[3] == 1 && $l[4] == $<;
    sysopen($fh, $tmp, Fcntl::O_RDWR() | O_NOFOLLOW | O_NONBLOCK) or refuse('NOUPLOAD', $p, $id);
    @ts = stat($fh);
    refuse('RACE', $p) unless @ts && $ts[0] == $l[0] && $ts[1] == $l[1];
    refuse('SECRET', $real) if $SECRET_INODE{"$ts[0]:$ts[1]"};
  }
  if ($cancel) { close $fh; unlink $tmp; out('ok', $p, $id, 0, 'cancelled'); return }
  my $have = $ts[7];
  refuse('GAP', $p, $have) if $off > $have;
  if ($len > 0) {
    unless (truncate($fh, $off) && sysseek($fh, $off, 0)) { fail_errno($t) }
    my $o = 0;
    while ($o < $len) { my $n = syswrite($fh, $data, $len - $o, $o); fail_errno($t) unless defined $n; $o += $n }
    $have = $off + $len;
  }
  unless ($final) { close $fh; out('ok', $p, $id, $have, 'pending'); return }
  my $sha = sha256_of($fh);
  refuse('NOSHA', $p) if $sha eq '';
  if ($sha ne lc $want) { close $fh; unlink $tmp; refuse('MISMATCH', $p, $sha, $have) }
  my $perm = length $mode ? oct($mode) : @old ? ($old[2] & 07777) : 0644;
  my $ok = eval {
    my $gid = (split ' ', $()[0];
    if (@old && ($old[4] != $< || $old[5] != $gid)) { chown($old[4], $old[5], $fh) or chown(-1, $old[5], $fh) }
    chmod($perm, $fh) or die "chmod\n";
    $fh->sync or die "fsync\n";
    close($fh) or die "close\n";
    1;
  };
  unless ($ok) { my $n = $! + 0; unlink $tmp; $! = $n; fail_errno($t) }
  unless (rename($tmp, $b)) { my $n = $! + 0; unlink $tmp; $! = $n; fail_errno($t) }
  if (open(my $dh, '<', '.')) { eval { $dh->sync }; close $dh }
  out('ok', $p, $id, $have, 'done', $t, $sha, $perm, @old ? 0 : 1) }

my %OPS = (read_file => \&op_read, list_dir => \&op_list, write_file => \&op_write, search_files => \&op_search, shell => \&op_shell);
$OPS{transfer_read} = \&op_transfer_read; $OPS{transfer_write} = \&op_transfer_write;
my $run = $OPS{$OP} or die "lmcp: unknown operation '$OP' from the hub\n";
$run->();
