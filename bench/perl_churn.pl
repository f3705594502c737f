# bench/perl_churn.pl - room: bench/. An allocation-heavy Perl script for
# bench_preload.sh: hashes of words and of arrays, string building, split,
# join, regex substitution and sorting, with its own fixed-seed generator (and
# sorted keys, since Perl randomises hash order). Prints a checksum that does
# not depend on the allocator.
# Usage: perl perl_churn.pl [ROUNDS] [SIZE (words per round, default 40000)]
use strict;
use warnings;

my $rounds = shift // 2;
my $size = shift // 40000;
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }
my @al = ('a' .. 'z', 0 .. 9);
my $check = 0;
for my $r (1 .. $rounds) {
    my (%count, %groups);
    for my $i (1 .. $size) {
        my $w = join '', map { $al[rnd() % 20] } 1 .. (3 + rnd() % 9);
        $count{$w}++;
        push @{ $groups{ substr($w, 0, 2) } }, $w . ":" . $i;
    }
    my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 99];
    $check += $count{$_} for @top;
    for my $g (sort keys %groups) {
        my $line = join ',', @{ $groups{$g} };
        $line =~ s/([a-z]+):(\d+)/$2=\U$1/g;
        my @f = split /,/, $line;
        $check += @f + length($f[-1]);
    }
    my %copy = map { $_ => [ split //, $_ ] } grep { length($_) > 6 } keys %count;
    $check += scalar(keys %copy);
    delete @count{ grep { /[0-4]/ } keys %count };
    $check += scalar(keys %count);
    my $s = '';
    $s .= sprintf("%05d|", rnd() % 100000) for 1 .. $size / 2;
    my @nums = sort { $a <=> $b } split /\|/, $s;
    $check += $nums[0] + $nums[-1] + length($s);
    $check %= 2**48;
}
print "perl_churn: $rounds rounds of $size words, checksum $check\n";
