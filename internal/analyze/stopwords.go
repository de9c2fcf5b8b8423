package analyze

import (
	"strings"
	"sync"
)

// stopwords are English function words plus verbs and fillers that are
// frequent in speech but say nothing about a talk's subject.
var stopwords = sync.OnceValue(func() map[string]struct{} {
	const list = `
a about above across after again against ago all almost along already also although always am among an and another any anybody anyone anything anyway anywhere are aren't around as at away
back be became because become becomes been before behind being below beside besides best better between beyond both but by
came can can't cannot come comes could couldn't
did didn't do does doesn't doing don't done down during
each either else enough even ever every everybody everyone everything everywhere
few first for from further
gave get gets getting give given gives go goes going gone good got
had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how how's however
i i'd i'll i'm i've if in into is isn't it it's its itself
just
keep kind know known knows
last least less let let's like likely look looked looking looks lot lots
made make makes making many may maybe me might mine more most mostly much must my myself
need needs never new next no nobody none nor not nothing now nowhere
of off often oh ok okay on once one ones only onto or other others otherwise our ours ourselves out over own
per perhaps put
quite
rather really right
said same saw say saying says see seem seemed seems seen several shall she she'd she'll she's should shouldn't show shows since so some somebody someone something sometimes somewhere soon still such sure
take takes taken tell than that that's the their theirs them themselves then there there's these they they'd they'll they're they've thing things think this those though through thus till to today together too took toward towards try trying
um uh under until up upon us use used uses using
very via
want wanted wants was wasn't way ways we we'd we'll we're we've well went were weren't what what's whatever when where where's whether which while who who's whom whose why will with within without won't would wouldn't
yeah yes yet you you'd you'll you're you've your yours yourself yourselves
welcome hello hi thanks thank
zero two three four five six seven eight nine ten
`
	m := map[string]struct{}{}
	for _, w := range strings.Fields(list) {
		m[w] = struct{}{}
	}
	return m
})
