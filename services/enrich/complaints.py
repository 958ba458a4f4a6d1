"""Complaint cue lexicon (English and Korean) and the rule-based complaint flag built on it.

The enrich stage's flag is the learned model of :mod:`services.enrich.complaint_model`; it uses this
module's cue scanner as features (counts of strong, weak, negated, resolved, sarcasm and laughter
cues, a brand-side target, an address) and its cue matches as the readable reasons of a flag.
:func:`is_complaint` is the earlier rule flag, kept as the baseline ``make eval-complaints`` reports
beside the model (on English tweets to brands it catches ~57 % of complaints at ~0.9 precision).

A complaint is a negative message a customer directs at the brand: reporting a problem (broken, not
working, outage, late or wrong delivery, rude staff, hygiene), asking for help with one, demanding a
refund, cancellation or compensation, or threatening to leave. Praise, plain questions, chatter
(negative or not), brand posts and replies, and events without text are not complaints.

How a text is read:

* cues are matched left to right, leftmost first, without overlaps (as ``finditer`` over one big
  alternation would, see :class:`_Scanner`); at one position, *negated* and *resolved* forms are
  tried before the problem cues, so "no problem", "zero complaints", "고장 한 번 없이" or "never
  disappoints" consume the words a problem cue would otherwise match (cheap negation);
* *strong* cues are problem reports and demands that are complaints on their own ("charged twice",
  "not working", "환불해 주세요", "먹통", "다시는 안 가");
* *weak* cues are negative evaluations ("disappointed", "최악", "why is") that also occur in
  chatter ("monday is the worst"); they count only when the text names a target on the brand side
  (you, your app, the order, 고객센터, 직원...) and the sentiment model agrees (or, without a score,
  when two of them occur);
* *resolved* forms ("fixed my issue", "환불 처리해 주셔서 감사", "정시 출발") cancel one strong cue
  each: a customer reporting a solved problem is praising, not complaining;
* *sarcasm* markers ("great job", "love how", "잘하는 짓") next to a strong cue make the sentiment
  score untrustworthy (models read sarcasm as positive), so it is ignored;
* laughter ("lol", "😂", "ㅋㅋ") silences weak cues: "worst morning ever 😂" is not a grievance;
* with no cue at all, a very negative score on a message that addresses the brand ("@brand",
  "you") still counts: it is a complaint in words the lexicon does not know.

Which events can be complaints: comments, replies, mentions and direct messages — the channels a
customer uses to reach the brand. A post or share (a customer's own timeline) counts only when it
addresses the brand (an @handle, "you/your", a Korean request form like "해 주세요") and carries a
strong cue: "PSA, their app is broken again" warns followers, it does not ask the brand for anything.
Brand accounts (``is_brand``) never complain, whatever their apology replies say about refunds.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Sequence
from typing import Any

DIRECTED_EVENT_TYPES = frozenset({"comment", "reply", "mention", "message"})
ADDRESSED_EVENT_TYPES = frozenset({"post", "share"})  # only with an address to the brand

# A strong cue holds unless the sentiment model is clearly positive (and no sarcasm marker).
STRONG_MAX_SCORE = 0.6
# Weak cues need the model to call the text negative; two weak cues tolerate a neutral score.
WEAK_MAX_SCORE = -0.25
TWO_WEAK_MAX_SCORE = 0.2
# Without any cue, a message addressed to the brand needs a very negative score.
ADDRESSED_NEGATIVE_MAX_SCORE = -0.6

# --- English (matched on lower-cased text with ’ folded to ') -------------------------------------

_N = r"(?:[0-9]+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|several|many|few)"
_NOT = (
    r"(?:not|never|no longer|isn'?t|is not|aren'?t|wasn'?t|weren'?t|doesn'?t|does not|didn'?t|did not|"
    r"won'?t|will not|can'?t|cannot|can not|couldn'?t|could not|unable to|still not|still can'?t|"
    r"still (?:isn'?t|aren'?t|hasn'?t|haven'?t|doesn'?t|don'?t|won'?t))"
)
_DELIVERY = (
    r"(?:order|orders|delivery|package|parcel|shipment|item|items|refund|replacement|luggage|bag|baggage|"
    r"suitcase|food|drink|coffee|money|tickets?|stuff|jacket|boots)"
)

_EN_NEGATED = (
    r"no (?:problems?|issues?|complaints?|worries|lag|errors?|delays?|hiccups?|regrets?)",
    r"(?:zero |without (?:any )?|never had (?:a |any )?|never (?:a |any )?)"
    r"(?:problems?|issues?|complaints?|delays?|hiccups?|blisters|lag)",
    r"not (?:a|any) (?:problem|issue)",
    r"(?:not|isn'?t|wasn'?t) (?:bad|disappointed|disappointing|complaining|a complaint)",
    r"nothing (?:wrong|broke|to complain about)",
    r"never (?:disappoints?|lets? (?:me|us) down|fails)",
    r"can'?t (?:wait|stop|get enough|complain|believe|put it down|beat)",
    r"(?:people|everyone|ppl|folks) (?:are )?(?:complaining|mad|angry|upset)(?: about \w+)?",
    r"(?:refund|return|cancell?ation) polic(?:y|ies)",
    r"jet ?lag",
    r"leak(?:ed|s)? (?:trailer|skins?|footage|images?|photos?|info|news|patch notes|roadmap)",
    r"(?:i'?m|im|i am|we'?re|so|totally|literally) broke",
    r"down (?:jacket|fill|vest|coat|to earth)",
    r"(?:crushed|smashed|killed|nailed) it",
    r"(?:worried|afraid|scared|thought) (?:it|they|that|the \w+) (?:would|might|will) (?:be |arrive |come )?"
    r"(?:late|delayed|broken|leak|break)",
)
_EN_RESOLVED = (
    r"(?:got|received|get) (?:my|the) (?:refund|money back|replacement)",
    r"(?:refund|replacement) (?:came|went) through",
    r"(?:all |everything(?:'s| is) )?(?:fixed|sorted|resolved|good) now",
    r"works (?:perfectly|fine|great)(?: now)?",
    r"working (?:again|fine)",
    r"(?:fixed|resolved|solved|sorted(?: out)?|replaced|refunded) (?:my|the|it|them|everything|this)",
    r"thanks? (?:you )?for (?:sorting|fixing|resolving|the (?:quick |fast )?(?:fix|replacement|refund|help))",
    r"(?:exchange|return|replacement|refund) was (?:super |really |so |very )?(?:easy|quick|fast|smooth)",
    r"(?:came|arrived|left|departed|landed) on time",
    r"seems fine to me",
    r"glad it worked out",
    r"kept (?:us|me) (?:updated|informed|posted)|handled (?:it |this )?(?:well|really well|great|perfectly)",
)
_EN_SARCASM = (
    r"great (?:job|quality|service|support|customer service|work|experience)",
    r"good job",
    r"amazing work",
    r"well done",
    r"love (?:how|that for me|it when)",
    r"thanks a lot",
    r"fantastic",
    r"yeah right",
    r"oh (?:great|cool|wow)",
    r"just great",
    r"wow",
)
# Laughing at it ("worst morning ever 😂") is chatter; it silences weak cues, not strong ones.
_EN_HUMOUR = (r"lol|lmao|lmfao|haha\w*|rofl",)
_EN_STRONG = (
    # outages and things that do not work
    r"(?:app|site|website|server|servers|service|network|internet|wifi|data|system|signal|platform|"
    r"checkout|game|line)s?(?: (?:is|are|was|were|has been|have been|been|went|keeps? going|still|all))?"
    r" down",
    r"down (?:again|all day|for (?:everyone|hours|days|me))",
    r"outages?",
    r"blackout",
    _NOT + r" (?:even |been |being |actually |properly |yet )?(?:work|working|load|loading|open|opening|"
    r"connect|connecting|log ?in|sign ?in|logging in|signing in|apply|applied|applying|charge|charging|"
    r"turn on|turned on|sync|start|play|access|redeem|make calls|call|called|send|sent|receive|pair|"
    r"update|updated|updating|download|install|check ?out|pay|order|book|track|find|reach|contact|"
    r"get through|use|cancel|change|return|exchange|withdraw|transfer|upload|stream|hear|fix|fixed|"
    r"resolve|resolved|respond|responded|reply|replied|answer|answered|come|came|show up|showing up|"
    r"showed up|show|showing|appear|appearing|refund|refunded|deliver|ship|process|processed|honou?r|"
    r"honou?red|accept|accepted|recogni[sz]e|credited|added)",
    r"(?:stopped|stops|quit) working",
    r"failed (?:again|twice|every|[0-9]+ times|to (?:deliver|arrive|ship|load|connect|charge|refund|process|"
    r"activate|port))",
    r"(?:payment|porting|transfer|transaction|order|login|update|delivery|activation|upgrade|download|"
    r"install|checkout)(?: \w+){0,2} failed",
    r"(?:barely|never) works",
    r"(?:keeps?|kept) (?:crashing|freezing|dropping|disconnecting|failing|buffering|logging me out|"
    r"cutting out|lagging|rebooting|restarting|charging|spinning|loading)",
    r"crash(?:es|ing)",
    r"crashed (?:again|on me|when|every|twice|during|mid)",
    r"freez(?:es|ing)",
    r"spins forever",
    r"unplayable|unusable|undrinkable|inedible",
    r"lag(?:gy|ging)?|disconnects?|disconnected|glitch\w*|bugged|buggy|bugs?",
    r"errors?(?: [0-9]+)?",
    r"(?:says|shows|showing|is|was|keeps? saying) (?:as )?(?:invalid|expired|declined|unavailable|failed)",
    # defects
    r"broke|broken|breaks|snapped|cracked|ripped|torn|shattered",
    r"(?:came|coming|fell|falling|comes) (?:apart|off|undone|loose)",
    r"leak(?:s|ed|ing)?",
    r"damaged|defective|faulty|dead on arrival|malfunction\w*",
    r"(?:used|second[- ]hand|dirty|stained) (?:jacket|item|product|one)",
    # deliveries, travel, waiting
    r"(?:hasn'?t|has not|haven'?t|have not|never|not|didn'?t|did not|still not|yet to|isn'?t even) "
    r"(?:been |even |yet )?(?:arrived?|shipped|delivered|received|showed up|show up|dispatched|refunded)",
    r"(?:marked|says|shows|showing|marked it) (?:as |it was |it'?s )?\W?(?:delivered|recipient|not home|"
    r"attempted|returned to sender)",
    r"(?:it'?s|is|was) not here",
    r"where(?:'s| is| are) (?:my|our) " + _DELIVERY,
    r"(?:late|delayed|lost|missing|wrong|damaged|stolen) " + _DELIVERY,
    r"wrong (?:size|colou?r|product|seat|address|name)",
    _DELIVERY + r" (?:is|was|are|were|got|has been|still) (?:late|delayed|lost|missing|stuck|overdue)",
    r"(?:order|delivery|package|parcel|shipment|refund|luggage|bag|baggage) "
    r"(?:late|delayed|lost|missing|stuck)",
    r"(?:arrived|delivered|showed up|shipped) (?:\w+ )?late",
    _N + r" (?:days?|weeks?|hours?|hrs?|mins?|minutes?) late",
    r"late (?:delivery|again|flight|arrival|refund)",
    r"delay(?:ed|s)?",
    r"cancell?ed (?:my|our|the) (?:flight|order|booking|reservation)",
    r"(?:flight|order|booking|event) (?:was |got |is )?cancell?ed",
    r"missed (?:my|our|the) (?:flight|connection)",
    r"overbook\w*|stranded",
    r"stuck (?:on \W?(?:processing|pending|loading|hold)|at (?:the )?(?:airport|gate)|for|since)",
    r"(?:on|been on) hold",
    r"still (?:waiting|nothing|broken|hasn'?t|haven'?t|don'?t have|down|no (?:reply|response|refund|"
    r"answer|word|update|package|sign|signal|service|internet|news))",
    r"waiting (?:for|on) (?:\w+ ){0,3}(?:refund|response|reply|answer|replacement|order|package|update|"
    r"ticket|call ?back|technician)",
    r"(?:days|weeks|months) and (?:still no|no|still nothing|counting)",
    r"without (?:internet|signal|service|power|wifi|data|my (?:luggage|bag|order|package|refund))",
    r"took (?:forever|ages)",
    r"(?:order|delivery|drink|coffee|food|refund|support|shipping|queue|wait|line) took [0-9]+ "
    r"(?:minutes|mins|hours|hrs|days|weeks)",
    # money
    r"(?:charged|billed) (?:me |us )?(?:twice|double|again|for (?:a|an|the|something|things|stuff|\w+ i)|"
    r"without|extra|my card)",
    r"double[- ]charged|overcharg\w*|charged my card",
    r"(?:wrong|incorrect|extra|hidden|surprise) (?:charges?|fees?|bill)",
    r"bill (?:went up|is higher|was higher|doubled|jumped)",
    r"price hikes?",
    r"paying for nothing|what am i paying for|(?:and|but) got nothing",
    r"scam\w*|rip[- ]?off|ripped off|fraud\w*|false advertis\w*|misleading|mislabel\w*|lies|lied|lying",
    r"throttl\w*",
    r"recalled|recall (?:notice|list|check)|(?:a|the|under|safety|product) recall",
    r"refund\w*|reimburs\w*|compensat\w*|money back|chargeback",
    # people and support
    r"rude|unprofessional|hung up|rolling (?:her|his|their) eyes",
    r"ignor(?:ed|ing) (?:me|us|my)",
    r"(?:nobody|no ?one) (?:answers|answered|responds|responded|replies|replied|gets? back|got back|"
    r"helps|helped|picks up|cares|can tell|wants|called|came|showed up|tells|told)",
    r"no (?:reply|replies|response|answer|updates?|info|information|help|explanation|refund|package|"
    r"signal|bars|service|"
    r"internet|data|wifi|calls?|texts?|connection|food|vouchers?|notice|announcement)",
    r"without (?:any |an? )?(?:notice|explanation|warning|announcement|reason)",
    r"zero (?:explanation|help|response|communication)",
    r"(?:haven'?t|hasn'?t|have not|has not|never) (?:heard|gotten|got|received) (?:back|a|any|my|an|it)",
    r"closed my ticket",
    r"(?:useless|terrible|awful|horrible|worst|bad|poor|appalling|shocking|lousy|disgraceful) "
    r"(?:customer )?(?:service|support|experience|quality|staff|agent|communication|app|airline|company)",
    r"(?:service|support|staff|agent|app|coverage) (?:is|was|were|are) (?:\w+ )?(?:useless|terrible|awful|"
    r"horrible|slow|a joke|trash|garbage|rude)",
    r"refused to|(?:won'?t|wouldn'?t|didn'?t) let me|denied my|rejected my",
    r"(?:account|acc) (?:was |got |has been |is )?(?:banned|suspended|locked|hacked|deleted)",
    r"banned for no reason|locked out|hacked",
    r"(?:deleted|lost|wiped|erased) (?:" + _N + r" \w+ of )?(?:my|our|the) (?:\w+ )?"
    r"(?:progress|items?|data|saves?|account|luggage|bag|package|parcel|cart|outfits|skins?|order)",
    r"lost " + _N + r" (?:days?|hours?|weeks?) of",
    r"(?:items?|parts?|pieces?) missing|missing " + _N,
    r"(?:made|sent|got|delivered|gave me|charged) (?:\w+ )?wrong",
    r"something(?:'s| is) (?:wrong|off)",
    # wrong, damaged, short, unauthorised
    r"(?:showed up|came|arrived|delivered|sent|got|received)(?: \w+){0,3} instead",
    r"not what i (?:ordered|paid for|asked for)|instead of what i ordered",
    r"(?:your|their) (?:mistake|fault|error)",
    r"dropped calls?|calls? (?:keep |kept )?drop\w*",
    r"(?:bad|poor|no|zero|terrible|awful) (?:signal|reception|coverage|wifi|connection)",
    r"(?:slow|terrible|awful|unusable) (?:internet|data|speeds?|wifi)",
    r"(?:money|refund|deposit|payment) (?:still )?(?:isn'?t|is not|hasn'?t been|has not been|not) "
    r"(?:back|returned|refunded|credited)",
    r"(?:never|didn'?t) (?:ordered|order|signed up|sign up|authori[sz]ed?|agreed|bought|requested|used)",
    r"unauthori[sz]ed|(?:roaming|hidden|extra|surprise|late) (?:charges?|fees?)",
    r"crushed|squashed|smashed|dented|ruined|melted|scratched|stained",
    r"spilled (?:all )?(?:over|everywhere|inside)",
    r"defects?|flawed",
    r"(?:was|were) promised|promised (?:a |me |us )?(?:callback|refund|call|reply|replacement|delivery)",
    r"tracking (?:hasn'?t|has not|isn'?t|not|still)|(?:hasn'?t|has not|not) (?:been )?updated",
    r"stop (?:sending|calling|texting|charging|spamming|emailing|changing)|spam\w*",
    r"without (?:asking|permission|my (?:consent|permission|approval)|telling (?:me|us)|warning)",
    r"how is (?:that|this|it) (?:legal|ok|okay|acceptable|fair|allowed)",
    r"(?:a|with|has) (?:hole|tear|rip|stain|crack|dent|scratch)s? in|holes? in (?:the|my|it)",
    r"(?:get|have) (?:it|this|them|one) (?:swapped|replaced|exchanged|refunded|fixed)",
    r"forgot (?:half |part of |some of |one of )?(?:my|our|the) (?:order|drink|food|items?|fries|sauce|bag)",
    r"forgot to (?:include|add|send|charge|refund|ship|pack|put|cancel)",
    r"why do (?:i|we) (?:have|need) to",
    r"auto-?renew\w*|renewed (?:automatically|without)",
    r"(?:same|canned|generic|useless|automated) (?:copy[- ]paste |canned )?(?:answer|reply|response)s?",
    r"copy[- ]paste(?:d)? (?:answer|reply|response)|(?:does|do) (?:anyone|anybody|you) (?:actually )?"
    r"(?:read|care|listen)",
    r"(?:logs?|logged|logging|kicks?|kicked|kicking) me out",
    r"(?:been )?waiting (?:for |since )?(?:over |more than |almost )?(?:[0-9]+|an?|two|three|several) "
    r"(?:hours?|days?|weeks?|months?|minutes?|mins?)",
    r"waiting forever|do something|get your act together",
    r"(?:want|need|demand|expect) (?:a |an |my )?(?:full )?"
    r"(?:replacement|exchange|explanation|apology|answer)",
    # hygiene and food
    r"hygien\w*|unhygienic|unsanitary|food poisoning|undercooked|moldy|mouldy|mold|stale|spoiled|expired",
    r"gone (?:off|sour|bad)",
    r"(?:got|was|were|been|felt) sick|sick (?:after|for)",
    r"(?:hair|bug|cockroach|roach|fly|plastic|glass|something) (?:in|floating in) (?:my|the|our) \w+",
    r"came out cold|(?:arrived|came) cold|half ice|watered down|soggy|lukewarm|undercooked|overcooked",
    r"tasted? (?:like|off|burnt|weird|sour|bitter|stale|old|awful|bad|funny)",
    # demands, help, escalation
    r"(?:please|pls|plz|can you|could you|you need to|u need to) (?:\w+ )?(?:fix|sort|resolve|look into|"
    r"refund|restore|reverse|respond|reply|get back|call me)",
    r"fix (?:this|it|your|the|that)",
    r"sort (?:this|it) out",
    r"(?:speak|talk) to (?:a|your) (?:manager|supervisor|human|real person)",
    r"escalat\w*",
    r"complain(?:t|ts|ing)?",
    r"unacceptable|outrageous|thanks for nothing",
    r"(?:is|was) a joke",
    r"not (?:happy|satisfied|acceptable|ok|okay|what i \w+)",
    r"(?:who'?s|who is) (?:paying|compensating|responsible)",
    # churn
    r"never (?:again|flying|ordering|buying|coming back|going back|shopping|using|booking|returning)",
    r"not (?:coming|going) back",
    r"won'?t be (?:back|returning|ordering|buying|using|coming)",
    r"switching (?:to|carriers?|providers?|airlines?|over)|(?:switch|move) to (?:another|a different|other)",
    r"unsubscrib\w*|uninstall\w*|delet(?:e|ing) (?:the|this|your) app",
    r"(?:i'?m|im|i am) (?:so )?done(?= *(?:[.!,]|$))|done with (?:you|this|your)",
    r"take my (?:business|money) elsewhere|lost a (?:customer|loyal)",
    r"do not (?:order|buy|fly|book|use)|don'?t (?:order|buy|fly|book) (?:from|with|here)|stay away",
)
_EN_WEAK = (
    r"disappoint\w*|worst|terrible|awful|horrible|pathetic|ridiculous|frustrat\w*|annoy\w*|angry|"
    r"furious|fed up|sick of|tired of|hate|sucks?|trash|garbage|nightmare|joke|shame on|wtf|not cool",
    r"gross|disgusting|dirty|filthy|slow|overpriced",
    r"cancel\w*|need help|help me|someone help|anyone help|help|asap|explain|invalid",
    r"why (?:is|does|did|was|are|do|can'?t|won'?t|isn'?t)",
    r"come on|seriously|hello|embarrassing|impossible|getting (?:ridiculous|old|annoying)",
    r"(?:it'?s been|been) "
    + _N
    + r" (?:days|weeks|months)|(?:days|weeks|months|hours) now|day "
    + _N
    + r" without",
)
_EN_TARGET = (
    r"@\w|\b(?:you|your|you'?re|u|ur|y'?all|guys|customer (?:service|support)|support|service|staff|"
    r"barista|cashier|agent|manager|store|branch|app|website|site|order|delivery|package|parcel|flight|"
    r"airline|booking|bill|plan|account|refund|product|game|server|servers|update|patch|team)\b"
)

# --- Korean (no word boundaries: particles attach to nouns) ----------------------------------------

_KO_TAIL = r"[^.!?\n]"
_KO_NEGATED = (
    r"(?:고장|문제|불만|불편|하자|오류|에러|버그|이상)" + _KO_TAIL + r"{0,12}?없",
    r"렉" + _KO_TAIL + r"{0,6}?(?:없|줄었|안 ?걸)",
    r"실망(?:시키지 않|하지 않|안 ?시)",
    r"거짓말 ?같",
    r"환불 ?(?:규정|정책|기준)",
    r"사기(?:급|캐)",
    r"(?:면|야) ?안 ?(?:돼|되)",
    r"다른 (?:데|곳) 못 가",
    r"(?:제가|내가|제|내) 잘못",
    r"(?:늦을|지연될|연착될|고장 날|안 될|안 올|불편할|실망할|문제 있을|오래 걸릴)(?: 줄| ?까 ?봐| ?까 걱정)",
)
_KO_RESOLVED = (
    r"해결(?:됐|되었|돼서|되서|해 ?주셔서|해 ?주셨|해 ?줘서)",
    r"처리(?:해 ?주셔서|해 ?주셨|해 ?줘서|가 빨라|도 빠르)",
    r"빠른 (?:처리|해결|답변|대응|교환|환불)",
    r"(?:교환|환불|처리|해결|대응)(?: 감사| 너무 감사| 정말 감사)",
    r"환불 (?:잘 |바로 |빨리 )?(?:받았|완료|됐어요 감사)",
    r"잘 (?:되네요|돼요|됩니다|작동)",
    r"정상 ?(?:화|작동|출발|운행)|정시 (?:출발|도착)",
)
_KO_SARCASM = (r"잘하는 짓|잘 ?하시네요|잘 ?하네요|대단하시네요|고맙네요|참 잘",)
_HUMOUR = r"😂|🤣|ㅋㅋ|ㅎㅎ"
_KO_STRONG = (
    # broken, not working, outage
    r"고장|먹통|불량|하자|파손|깨져|깨진|찢겨|(?:망가|부러|부서|찢어|뜯어|벗겨)(?:졌|져|짐|진)",
    r"(?:밑창|굽|단추|손잡이|끈|부품|로고|코팅|솔기|바느질|지퍼|바퀴|폴대|박음질|실밥)(?:이|가|은|는|도)? ?"
    r"(?:다 |또 |벌써 |자꾸 )?(?:떨어|빠졌|빠져|나갔|풀렸|터졌|터져|뜯어)",
    r"(?:번져|녹아|눌려|찌그러져|구겨져|젖어|터져|망가져|뭉개져|식어|상해|깨져|찢어져|쏟아져|넘쳐|새)서 ?왔",
    r"찌그러|구겨져|구겨진|눌려서|녹아 ?있|다 녹았",
    r"안 ?(?:잡혀|잡히|열려|열리|켜져|켜지|꺼져|꺼지|먹혀|먹히|넘어가|떠요|뜨네|뜹니다|뜨고|눌려|눌리|"
    r"충전돼|충전되|읽혀)",
    r"무한 ?로딩|로딩(?:이|만)? ?(?:계속|무한|안 ?끝|너무 길)|계속 로딩",
    r"(?:신호|와이파이|와파|인터넷)(?:가|도|이)? ?(?:안|없|약|끊|자꾸|계속)",
    r"속도(?:가|도)? ?(?:너무 |왜 |엄청 |계속 )?(?:느려|안 나|떨어)",
    r"털(?:이)? ?(?:다 )?빠져",
    r"물(?:이)? ?(?:샘|새요|새네|새서|새고|샌다|들어와)|물이 새",
    r"(?<!면 )(?<!면)(?<!야 )(?<!야)안 ?(?:돼|되요|되네|되고|되는데|되잖|되더|된대|된다|됨|됩니|됐|되서)",
    r"왜 (?:이렇게 |계속 |또 |자꾸 |아직도 )?안 ?(?:돼|되|와|오|나와|나오)",
    r"(?:배송|배달|택배|물건|주문|음식|음료|기사|문자|메일|인증|연락|답변|답장|환불|상품|제품|것|거|게)"
    r"(?:이|가|은|는|도)? ?(?:아직 ?|아직도 ?|계속 ?|또 ?)?안 ?(?:와|오|왔|옴|옵)",
    r"안 ?(?:나와|나오|나옴|나왔)|안 ?터져|안 ?터지|안 ?들어왔|안 ?들어와",
    r"끊겨|끊김|끊기고|끊어져|끊어짐|튕겨|튕김|튕기|렉 |렉이|렉 때문|랙|버벅|멈춰|멈춤|멈추고",
    r"서버 ?(?:가 |이 )?(?:다운|터|폭파|불안정|먹통)|점검 (?:또 )?연장",
    r"오류|에러|버그|장애(?!인)|실패했|실패해",
    r"(?:접속|로그인|연결|결제|적용|반영|충전)(?:이|을|도|가)? ?(?:안|불가|못)",
    r"(?:연락|답변|답장|답|회신|대답)(?:이|도|을|은)? ?(?:전혀 |아직 |아직도 )?(?:없|안 ?[와오옴옵]|못 받)",
    r"(?:안내|공지|설명|사과|해명|연락|답변)" + _KO_TAIL + r"{0,6}?없",
    r"전화(?:를|도|는)? ?(?:안|못) ?받|통화 ?중이|읽씹|무시당|무시하",
    r"사라졌|사라짐|날아갔|날렸|증발",
    # people
    r"불친절|반말|막말|태도(?:가|를| 보고)|싸가지|갑질",
    # hygiene and food
    r"비위생|위생(?!적)|이물질|벌레|머리카락|곰팡이|식중독|배탈|상했|쉰내|비린내|탄 ?맛|유통기한 ?(?:이 )?지",
    r"식어서|식은 채|미지근|덜 익|안 익(?!숙)|뭉개져|뭉개짐|쏟아 ?놓|다 쏟|쏟았|못 먹겠|너무 써서",
    # wrong, missing, late
    r"잘못 (?:왔|온|배송|나왔|나온|보내|결제|청구|나갔)|오배송|누락|한 짝만",
    r"다른 (?:상품|제품|색상|색깔|사이즈|물건|메뉴|음료|집)(?:이|가|으로|로)? ?(?:왔|옴|배송|나왔)",
    r"(?:시켰|주문했)는데" + _KO_TAIL + r"{1,12}?(?:왔|옴|나왔)",
    r"(?:음료|메뉴|상품|제품|물건|구성품|부품|하나|한 개|사은품)(?:이|가|도)? ?(?:하나 )?(?:빠졌|빠져)",
    r"(?:배송|배달|택배|출고|처리|답변|환불|출발|도착)(?:이|가|은|는|도)? ?"
    r"(?:너무 |좀 |또 |계속 )?(?:늦|지연)",
    r"지연|연착|결항|아직도 ?(?:안|못)|출발도 안|배송 전|입고 전",
    r"헛걸음",
    r"잘못(?! 봤| 알았| 눌렀| 읽었| 주문했네| 시켰네)",
    r"화내|화를 내|소리 ?(?:를 )?지르|째려|비꼬",
    r"돌려 ?주세요|돌려 ?줘|복구(?:해|좀|가 안|안|는 언제|해 ?주세요)|초기화(?:됐|되었|돼|됨)",
    r"배송 ?완료(?:라고|로|인데|됐다는데|떴는데|라는데)",
    r"(?:물건|택배|상품|제품|음식|주문한 ?거|짐|수하물)(?:이|가|은|도)? ?(?:없어요|없네요|없습니다|안 보여)",
    r"양(?:이|은)? ?(?:너무 |왜 |점점 |확 )?(?:적|줄었|줄어)|얼음이 반|반밖에",
    r"만료(?:됐|되었|돼|라고|래요)",
    r"소비자원|신고(?:할게요|합니다|하겠|했어요|할 거)|고소|법적 ?(?:조치|대응)|민원",
    r"(?:수거|회수|방문|설치|개통|출고|발송)(?:도|가|이)? ?(?:안|아직)",
    r"반품 ?(?:접수|안|불가|거부|거절)|거절당|거부당|안 ?해 ?(?:줘|준|주네|주시|주더|주셨|주잖|주고)",
    r"(?:가입|구매|주문|신청|결제|사용)(?:한 적|도) ?(?:없|안 한)",
    r"(?:랑|이랑|과|와|하고) (?:\S+ ){0,2}?(?:달라요|다르잖|다른데|다릅니다|달라서|틀려요)",
    r"(?:금액|요금|가격|청구서|영수증)(?:이|가|도)? ?(?:달라|다르|이상|틀려)",
    r"(?:전화|통화)(?:를|가)? ?(?:중간에 |그냥 )?끊(?:어|었|겼|기)",
    r"대기(?:만|가|시간이)? ?[0-9]+ ?(?:분|시간)",
    r"헐거워|흔들려|덜컹|삐걱|휘어|녹슬|변색|보풀|올이 풀|구멍(?:이|났|나)",
    r"끈적|쓰레기|냄새(?:가)? ?(?:나|심)|악취|뜯겨|뜯긴",
    r"(?:내역|기록|예약|주문|결제 내역|적립)(?:이|도)? ?(?:없다|없대|없어|없네|사라|안 ?남)",
    r"(?:시작|출발|준비|조리|접수|확인|처리)(?:도|가|이)? ?안 ?(?:했|됐|된|되)",
    # money
    r"두 번 (?:결제|청구|빠져|나갔)|결제(?:가)? 두 번|이중 ?(?:결제|청구|으로)|중복 ?(?:결제|청구)",
    r"과다 ?청구|요금 폭탄|또 결제|(?:돈|요금|금액|이중으로|두 번|또)(?:이|은|도|가)? ?빠져나가",
    r"요금이 (?:더|많이|왜) (?:나왔|청구|나가)",
    r"가입(?:도|한 적도)? 안 한",
    r"리콜|사기|허위|과장 ?광고|거짓말(?:이었|이네|했|하|쟁이)|속았|뒤통수|먹튀",
    r"조작(?!감|법|키)|유출|해킹|도용",
    r"환불|보상|배상",
    # demands and help
    r"해결(?:해 ?주세요|좀|해 ?줘|해 ?달라|하세요|이 ?안|안 ?(?:돼|되|됐|해))",
    r"조치(?:해|좀|를|하세요|바랍니다)|처리(?:해 ?주세요|좀|바랍니다|해 ?줘|가 안|도 안| 부탁)",
    r"(?:답변|답장|답|연락)(?:을)? ?(?:좀|주세요|바랍니다|부탁)",
    r"책임(?:지|져|을)|사과(?:하세요|해라|문|하라|부터|받고)|해명(?:하세요|해|부터|좀|하라)",
    r"교환(?:해 ?주세요|해 ?줘|요청|신청|(?:이)? ?안 ?해|불가)|반품(?:해|요청|신청|하고)",
    r"as (?:되나요|요청|신청|접수)|빨리 ?(?:좀|처리|해결|환불|취소|해 ?주세요)",
    # churn
    r"(?:해지|탈퇴|번호이동)"
    r"(?:할게요|합니다|하겠|해야겠|할래요|각|해 ?주세요|하려|하고 싶|했는데|할 거|하고 말지)",
    r"갈아탑니다|갈아탈게요|갈아탈래요|갈아탈 거|갈아타야겠|갈아타려|옮길게요|옮깁니다",
    r"(?:다른|딴) \S+ ?(?:로|으로) 갈아",
    r"다른 ?(?:통신사|회사|곳|데|브랜드|매장|항공사|게임)(?:로|으로)",
    r"다시는 ?안|다신 ?안|두 번 다시|불매|손절|접습니다|접을게요|이용 안 할|더(?:는| 이상)? 못 참",
)
_KO_WEAK = (
    r"실망|최악|짜증|화나|화가 나|열받|빡치|빡쳐|어이(?:가)? ?없|황당|답답|기가 막|한심|개판|엉망|형편없",
    r"말이 (?:되나요|됩니까|돼요\?|안 ?돼)|이게 맞나요|이게 뭐|장난(?:하|치)",
    r"왜 이래|왜 이럼|왜 이러|뭐하는|뭐죠",
    r"안 ?되나요|안 ?될까요|언제 ?(?:돼|되|와|오|나와|해결|복구|처리)|도와주세요|도와 ?줘",
    r"불편|불만|속상|불안|ㅡㅡ|해지|탈퇴|취소|당장|확인 ?(?:좀|해 ?주세요|부탁|바랍니다)",
    r"(?:[0-9]+|한|두|세|네|며칠|몇) ?(?:일|주|달|시간)째|열흘째|보름째",
    r"[0-9]+ ?분(?: 넘게| 동안| 걸렸| 기다)|(?:한|두|세) 시간(?: 넘게| 동안| 기다| 넘| 걸렸)",
    r"대기 중인데|기다렸는데|기다리고 있는데|기다리는데",
    r"대책|어떡하죠|어떡합니까|어떡해요|어쩌라고|어쩌란|느려|느리|다더니|라더니",
)
_KO_TARGET = (
    r"@\w|고객센터|상담|직원|매장|지점|사장님|앱|어플|서비스|배송|배달|택배|주문|결제|요금|고객|회사|본사|"
    r"운영|개발|항공|비행기|승무원|기사님|제품|상품|여기|너네|니네|님들|당신|답변|연락|환불|교환|통신사|데이터"
)

# Who a post or share talks to: an @handle, the second person, or a Korean request/imperative form.
_ADDRESS_REFERENCE = (
    r"@\w|\b(?:you|your|you'?re|u|ur|y'?all|guys)\b|고객센터|당신|너네|니네|(?:해|하|줘|드|주)세요|바랍니다"
)


KINDS = ("neg", "res", "sarc", "lol", "strong", "weak")  # tie-break order at one text position


def _cues(english: bool, korean: bool) -> list[tuple[str, str]]:
    """(kind, regex) of every cue, in priority order; English cues are whole words."""
    english_cues = (_EN_NEGATED, _EN_RESOLVED, _EN_SARCASM, _EN_HUMOUR, _EN_STRONG, _EN_WEAK)
    korean_cues = (_KO_NEGATED, _KO_RESOLVED, _KO_SARCASM, (), _KO_STRONG, _KO_WEAK)
    cues: list[tuple[str, str]] = []
    for kind, en, ko in zip(KINDS, english_cues, korean_cues, strict=True):
        if english:
            cues += [(kind, rf"\b(?:{fragment})\b") for fragment in en]
        if korean:
            cues += [(kind, fragment) for fragment in ko]
        if kind == "lol":
            cues.append((kind, _HUMOUR))
    return cues


def _alternation(cues: Sequence[tuple[str, str]]) -> str:
    by_kind: dict[str, list[str]] = {}
    for kind, regex in cues:
        by_kind.setdefault(kind, []).append(regex)
    return "|".join(f"(?P<{kind}>{'|'.join(regexes)})" for kind, regexes in by_kind.items())


def _prefixes(regex: str, size: int) -> tuple[set[str], bool] | None:
    """The strings of up to ``size`` characters a match of ``regex`` can begin with (shorter ones:
    whole matches), and whether it starts with ``\\b``; None when they cannot be worked out.

    Reads the parse tree of the standard library's regex parser (private, hence imported by name).
    Zero-width assertions are skipped, which can only add prefixes, never lose one.
    """
    try:
        parser = importlib.import_module("re._parser")
        c = importlib.import_module("re._constants")
        tree = list(parser.parse(regex))
    except (ImportError, AttributeError, re.error):
        return None

    def charset(items: Any) -> set[str] | None:
        out: set[str] = set()
        for op, av in items:
            if op is c.LITERAL:
                out.add(chr(av))
            elif op is c.RANGE and av[1] - av[0] < 256:
                out.update(chr(code) for code in range(av[0], av[1] + 1))
            else:
                return None  # negated sets, categories (\\w), wide ranges
        return out

    def extend(heads: set[str], items: Any) -> set[str] | None:
        done = {h for h in heads if len(h) >= size}
        for op, av in items:
            open_heads = heads - done
            if not open_heads:
                break
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            if op is c.LITERAL:
                tails: set[str] | None = {chr(av)}
            elif op is c.IN:
                tails = charset(av)
            elif op is c.SUBPATTERN:
                tails = extend({""}, av[-1])
            elif op is c.BRANCH:
                tails = set()
                for alt in av[1]:
                    sub_tails = extend({""}, alt)
                    if sub_tails is None:
                        return None
                    tails |= sub_tails
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                lo, hi, sub = av
                tails, current = set(), {""}
                for i in range(min(hi, lo + size) + 1):
                    if i >= lo:
                        tails |= current
                    grown = extend(current, sub)
                    if grown is None:
                        tails = None
                        break
                    current = grown
            else:
                return None
            if tails is None:
                return None
            heads = done | {(h + t)[:size] for h in open_heads for t in tails}
            done = {h for h in heads if len(h) >= size}
        return heads

    found = extend({""}, tree)
    if found is None or "" in found:
        return None
    anchored = bool(tree) and tree[0][0] is c.AT and tree[0][1] is c.AT_BOUNDARY
    return found, anchored


class _Scanner:
    """Finds the cues of one lexicon in a text, leftmost first, without overlaps.

    Equivalent to ``finditer`` over one alternation of all cues (``reference``), but fast: a Python
    ``re`` alternation tries every alternative at every position, so hundreds of cues cost tens of
    microseconds per text. Here two *finder* patterns locate, in C, the positions where some cue can
    start, and only the few cues that can begin with the next three (else two, else one) characters
    are tried there:

    * word starts (English cues): a non-word character followed by the first three characters of
      some cue, as a trie (the text is scanned with a space in front, so the character before a
      candidate sits where the candidate is in the text itself);
    * anywhere (Korean cues, emoji, "as 요청"): one of their first characters followed by a possible
      second one (for ASCII ones, their own second characters: every "a" of an English text is no
      candidate).

    Both patterns begin with a character class, so ``re`` skips in C to the characters that can
    start a match instead of trying the pattern at every position. Cues whose start cannot be
    worked out are tried by first character; if even that fails for one cue, the reference scan is
    used. ``tests/unit/test_complaint_equivalence.py`` holds it to the reference.
    """

    def __init__(self, cues: Sequence[tuple[str, str]]) -> None:
        self.cues = tuple(cues)
        self._finders: tuple[tuple[re.Pattern[str], str], ...] = ()
        # the cues that can begin with the next three / two / one characters (one pattern each)
        self._by_three: dict[str, re.Pattern[str]] = {}
        self._by_two: dict[str, re.Pattern[str]] = {}
        self._by_one: dict[str, re.Pattern[str]] = {}
        # cues by their first three characters (shorter: the whole match, or all that could be
        # worked out; either way a prefix of the text where the cue matches)
        by_head: dict[str, list[int]] = {}
        word_start: set[str] = set()  # up to three first characters of cues at a word start
        anywhere: dict[str, set[str] | None] = {}  # other cues: first -> second characters (None: any)
        for i, (_, regex) in enumerate(cues):
            found = _prefixes(regex, 2) or _prefixes(regex, 1)
            if found is None:
                return  # the reference scan it is
            heads, anchored = found
            longer = (_prefixes(regex, 3) or found)[0]
            for head in longer:
                by_head.setdefault(head, []).append(i)
            for head in heads:
                # a word start before a non-word character follows a word character: no candidate
                # for the word-start finder, so such (rare) cues count as starting anywhere
                if anchored and _WORD_CHAR.match(head):
                    word_start.update(h for h in longer if h[0] == head[0])
                    continue
                if len(head) == 1:
                    anywhere[head] = None
                elif (seconds := anywhere.setdefault(head[0], set())) is not None:
                    seconds.add(head[1])
        patterns: dict[tuple[int, ...], re.Pattern[str]] = {}

        def dispatch(*keys: str) -> re.Pattern[str]:
            indexes = tuple(sorted({i for key in keys for i in by_head.get(key, ())}))
            if indexes not in patterns:
                patterns[indexes] = self._compile(list(indexes))
            return patterns[indexes]

        self._by_three = {k: dispatch(k, k[:2], k[0]) for k in by_head if len(k) == 3}
        self._by_two = {k: dispatch(k, k[0]) for k in by_head if len(k) == 2}
        self._by_one = {k: dispatch(k) for k in by_head if len(k) == 1}
        finders = []
        if word_start:
            finders.append((re.compile(rf"\W(?={_trie(word_start)})"), " "))
        if anywhere:
            # Korean and emoji first characters: one class, then (for those that start two-character
            # heads) a second character that some head has; ASCII ones: their own second characters
            wide = {ch for ch in anywhere if not ch.isascii()}
            alone = {ch for ch in wide if anywhere[ch] is None}
            paired = wide - alone
            seconds = set().union(*(anywhere[ch] or set() for ch in paired))
            checks = [f"(?<=[{_char_class(alone)}])"] if alone else []
            if paired:
                checks.append(f"(?<=[{_char_class(paired)}])(?=[{_char_class(seconds)}])")
            checks += [
                f"(?<={re.escape(ch)})" + (f"(?=[{_char_class(sec)}])" if (sec := anywhere[ch]) else "")
                for ch in sorted(anywhere)
                if ch.isascii()
            ]
            finders.append((re.compile(f"[{_char_class(set(anywhere))}](?:{'|'.join(checks)})"), ""))
        self._finders = tuple(finders)

    def _compile(self, indexes: list[int]) -> re.Pattern[str]:
        return re.compile(_alternation([self.cues[i] for i in sorted(set(indexes))]))

    @functools.cached_property
    def reference(self) -> re.Pattern[str]:
        return re.compile(_alternation(self.cues))

    @property
    def fast(self) -> bool:
        return bool(self._finders)

    def kinds(self, text: str) -> list[str]:
        """Kinds of the cues found in ``text`` (lower-cased), in text order."""
        return [kind for kind, _, _ in self.matches(text)]

    def candidates(self, text: str) -> list[int]:
        """Positions, in order, where some cue can start (a superset of where one does)."""
        found = [m.start() for finder, pad in self._finders for m in finder.finditer(pad + text)]
        if len(self._finders) > 1:
            found.sort()
        return found

    def matches(self, text: str) -> list[tuple[str, int, int]]:
        """(kind, start, end) of the cues found in ``text`` (lower-cased), in text order."""
        if not self._finders:
            return [(m.lastgroup or "", m.start(), m.end()) for m in self.reference.finditer(text)]
        found: list[tuple[str, int, int]] = []
        end = 0
        by_three, by_two, by_one = self._by_three, self._by_two, self._by_one
        for pos in self.candidates(text):
            if pos < end:
                continue
            pattern = (
                by_three.get(text[pos : pos + 3]) or by_two.get(text[pos : pos + 2]) or by_one.get(text[pos])
            )
            if pattern is not None and (m := pattern.match(text, pos)) is not None:
                found.append((m.lastgroup or "", pos, m.end()))
                end = m.end()
        return found


_WORD_CHAR = re.compile(r"\w")


def _char_class(chars: set[str]) -> str:
    return "".join(re.escape(ch) for ch in sorted(chars))


def _trie(heads: set[str]) -> str:
    """An alternation that matches where one of ``heads`` begins, as a trie (``t(?:h[ar]|o)|u``):
    each level begins with a literal or a class, which ``re`` rejects at once."""
    if "" in heads:
        return ""  # a whole head has matched; anything may follow
    rests: dict[str, set[str]] = {}
    for head in heads:
        rests.setdefault(head[0], set()).add(head[1:])
    ends = {ch for ch, rest in rests.items() if "" in rest}
    parts = [f"[{_char_class(ends)}]"] if ends else []
    parts += [f"{re.escape(ch)}(?:{_trie(rest)})" for ch, rest in sorted(rests.items()) if ch not in ends]
    return "|".join(parts)


# English texts skip the Korean lexicon; Korean texts keep the English one (code-mixing: "앱 login
# error", "refund 해주세요"); "other" gets both, so a misdetected language still finds its cues.
_SCAN_EN = _Scanner(_cues(english=True, korean=False))
_SCAN_ALL = _Scanner(_cues(english=True, korean=True))


def _whole_words(words: Sequence[str]) -> str:
    """``\\b(?:w1|w2|...)\\b`` for presence tests, written so that ``re`` can skip to candidates.

    Each word (a regex that begins with a letter) becomes ``x(?<=\\bx)(?:rest|...)\\b`` grouped by
    its first letter ``x``: every alternative of a pattern built from these and from Korean words
    then begins with a literal, so a search jumps to those characters in C instead of trying
    ``\\b`` at every position. It finds a match exactly where the plain form does.
    """
    rests: dict[str, list[str]] = {}
    for word in words:
        rests.setdefault(word[0], []).append(word[1:])
    return "|".join(
        rf"{re.escape(ch)}(?<=\b{re.escape(ch)})(?:{'|'.join(rest)})\b" for ch, rest in rests.items()
    )


# Who a post or share talks to, and whether a text names something on the brand side: only ever
# tested for presence (``search(...) is not None``), in the literal-first form of the reference.
_YOU = ("you", "your", "you'?re", "u", "ur", "y'?all", "guys")
_EN_TARGET_WORDS = (
    *_YOU,
    *("customer (?:service|support)", "support", "service", "staff", "barista", "cashier", "agent"),
    *("manager", "store", "branch", "app", "website", "site", "order", "delivery", "package", "parcel"),
    *("flight", "airline", "booking", "bill", "plan", "account", "refund", "product", "game", "server"),
    *("servers", "update", "patch", "team"),
)
_KO_REQUEST = "해세요|하세요|줘세요|드세요|주세요|바랍니다"
_ADDRESS = re.compile(rf"@\w|{_whole_words(_YOU)}|고객센터|당신|너네|니네|{_KO_REQUEST}")
_TARGET_EN = re.compile(rf"@\w|{_whole_words(_EN_TARGET_WORDS)}")
_TARGET_ALL = re.compile(rf"{_TARGET_EN.pattern}|{_KO_TARGET}")


def _normalise(text: str) -> str:
    text = text.lower()
    return text.replace("’", "'") if "’" in text else text


def is_complaint(
    text: str | None,
    event_type: str,
    is_brand: bool = False,
    sentiment_score: float | None = None,
    language: str = "other",
) -> bool:
    """One event: True when a customer directs a complaint at the brand (rules in the module docstring).

    ``sentiment_score`` is the sentiment model's score in [-1, 1] (None when it did not run);
    ``language`` is the enrich stage's "ko"/"en"/"other".
    """
    if is_brand or not text:
        return False
    addressed_only = event_type in ADDRESSED_EVENT_TYPES
    if not addressed_only and event_type not in DIRECTED_EVENT_TYPES:
        return False
    t = _normalise(text)
    scan, target = (_SCAN_EN, _TARGET_EN) if language == "en" else (_SCAN_ALL, _TARGET_ALL)
    strong = weak = resolved = 0
    sarcasm = humour = False
    for kind in scan.kinds(t):
        if kind == "strong":
            strong += 1
        elif kind == "weak":
            weak += 1
        elif kind == "res":
            resolved += 1
        elif kind == "sarc":
            sarcasm = True
        elif kind == "lol":
            humour = True
    strong -= resolved
    if strong > 0:
        if addressed_only and _ADDRESS.search(t) is None:
            return False  # a post or share that does not talk to the brand warns followers instead
        # A clearly positive model overrules one unsarcastic strong cue ("no worries, the fix works").
        return sentiment_score is None or strong >= 2 or sarcasm or sentiment_score < STRONG_MAX_SCORE
    # Without a strong cue: only directed events, nothing laughed off or reported as resolved.
    if addressed_only or humour or resolved:
        return False
    # Weak cues must be about something on the brand's side and confirmed by the model (or, without a
    # score, by a second weak cue).
    if weak and target.search(t) is not None:
        if sentiment_score is None:
            return weak >= 2
        if sentiment_score <= WEAK_MAX_SCORE or (weak >= 2 and sentiment_score <= TWO_WEAK_MAX_SCORE):
            return True
    # No cue the lexicon knows: a very negative message spoken to the brand ("@brand", "you") is a
    # complaint in words we did not list; very negative chatter about Mondays does not talk to anyone.
    return (
        sentiment_score is not None
        and sentiment_score <= ADDRESSED_NEGATIVE_MAX_SCORE
        and _ADDRESS.search(t) is not None
    )


def complaint_flags(
    texts: Sequence[str | None],
    event_types: Sequence[str],
    is_brand: Sequence[bool],
    sentiment_scores: Sequence[float | None],
    languages: Sequence[str],
) -> list[bool]:
    """Batch form used by the enrich agent: one flag per event, inputs aligned by position."""
    n = len(texts)
    if not (len(event_types) == len(is_brand) == len(sentiment_scores) == len(languages) == n):
        raise ValueError("texts, event_types, is_brand, sentiment_scores and languages must align")
    return [
        is_complaint(text, kind, brand, score, lang)
        for text, kind, brand, score, lang in zip(
            texts, event_types, is_brand, sentiment_scores, languages, strict=True
        )
    ]
