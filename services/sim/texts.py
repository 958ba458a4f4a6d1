"""Korean and English texts for the traffic simulator: templates and vocabularies written for engage.

Every text is built from a template and per-category vocabulary (products, issues, crisis topics),
so the simulator knows each text's true sentiment and intent. Korean templates sometimes carry the
brand's Latin name, hashtags and emoji, as real Korean social posts do (code-mixing), which keeps
language detection honest. Templates avoid Korean particles right after a placeholder, so any
product name fits without 은/는-style agreement errors.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KO, EN = "ko", "en"
POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
COMPLAINT, QUESTION, PRAISE, CHATTER = "complaint", "question", "praise", "chatter"


@dataclass(frozen=True)
class Vocabulary:
    """Words of one brand category in one language."""

    products: tuple[str, ...]
    issues: tuple[str, ...]
    crisis_issues: tuple[str, ...]
    tried: str  # "tried it" verb that fits the category (drink / switch plan / wear)
    tags: tuple[str, ...]


VOCABULARY: dict[tuple[str, str], Vocabulary] = {
    ("cafe", KO): Vocabulary(
        products=("딸기 라떼", "아이스 아메리카노", "바닐라 콜드브루", "크림치즈 베이글", "시즌 한정 케이크"),
        issues=(
            "주문한 지 40분째 음료가 안 나와요",
            "음료에서 이물질이 나왔어요",
            "앱 쿠폰이 적용이 안 돼요",
            "직원분이 너무 불친절했어요",
            "라떼가 다 식어서 나왔어요",
        ),
        crisis_issues=(
            "영상 보니까 매장 위생이 엉망이네요",
            "식중독 걸렸다는 사람이 한둘이 아니에요",
            "위생 문제 해명부터 하세요",
            "주방 영상 보고 다시는 안 갑니다",
        ),
        tried="마셔봤는데",
        tags=("#카페스타그램", "#라떼", "#coffee", "#디저트"),
    ),
    ("cafe", EN): Vocabulary(
        products=(
            "strawberry latte",
            "iced americano",
            "vanilla cold brew",
            "cream cheese bagel",
            "seasonal cake",
        ),
        issues=(
            "My order took 40 minutes",
            "There was something floating in my drink",
            "The app coupon won't apply",
            "The barista was rude to me",
            "My latte came out cold",
        ),
        crisis_issues=(
            "That kitchen hygiene video is disgusting",
            "Several friends got sick after drinking here",
            "Explain the hygiene scandal first",
            "After that video I'm never coming back",
        ),
        tried="tried",
        tags=("#coffee", "#latte", "#cafe", "#dessert"),
    ),
    ("telecom", KO): Vocabulary(
        products=("5G 요금제", "데이터 무제한 요금제", "가족 결합 할인", "알뜰 요금제", "해외 로밍 패스"),
        issues=(
            "통화가 자꾸 끊겨요",
            "이번 달 요금이 두 번 청구됐어요",
            "하루 종일 데이터가 안 터져요",
            "번호이동이 또 실패했어요",
            "가입한 요금제보다 요금이 더 나왔어요",
        ),
        crisis_issues=(
            "전국적으로 통신 장애인데 공지도 없어요",
            "몇 시간째 전화도 문자도 안 돼요",
            "장애 보상은 어떻게 해주실 건가요",
            "통신 장애 때문에 업무를 통째로 날렸어요",
        ),
        tried="바꿔봤는데",
        tags=("#5G", "#요금제", "#데이터", "#unlimited"),
    ),
    ("telecom", EN): Vocabulary(
        products=("5G plan", "unlimited data plan", "family bundle", "budget plan", "roaming pass"),
        issues=(
            "My calls keep dropping",
            "I was charged twice this month",
            "Mobile data has been down all day",
            "Porting my number failed again",
            "My bill is higher than the plan I signed up for",
        ),
        crisis_issues=(
            "Nationwide outage and not a single update",
            "No calls or texts for hours now",
            "How are you compensating us for the outage",
            "The outage cost me a full day of work",
        ),
        tried="switched to",
        tags=("#5G", "#unlimited", "#mobile", "#dataplan"),
    ),
    ("outdoor", KO): Vocabulary(
        products=("경량 패딩", "방수 등산화", "고어텍스 재킷", "트레킹 폴", "캠핑 의자"),
        issues=(
            "지퍼가 일주일 만에 고장났어요",
            "주문한 지 열흘이 지났는데 아직 배송 전이에요",
            "사이즈 교환이 안 된대요",
            "방수 재킷인데 물이 새요",
            "등산화 밑창이 떨어졌어요",
        ),
        crisis_issues=(
            "패딩 충전재 허위 표기 사실인가요",
            "리콜 대상인지 확인할 방법이 없어요",
            "친환경이라더니 다 거짓말이었네요",
            "허위 표기 제품 전액 환불해 주세요",
        ),
        tried="입어봤는데",
        tags=("#등산", "#캠핑", "#hiking", "#아웃도어"),
    ),
    ("outdoor", EN): Vocabulary(
        products=(
            "light down jacket",
            "waterproof hiking boots",
            "shell jacket",
            "trekking poles",
            "camp chair",
        ),
        issues=(
            "The zipper broke after a week",
            "My order still hasn't shipped after 10 days",
            "They refused to exchange my size",
            "The waterproof jacket leaks",
            "The sole came off my boots",
        ),
        crisis_issues=(
            "Is it true the down fill was mislabeled",
            "There's no way to check if my jacket is recalled",
            "So the eco claims were all lies",
            "Refund every mislabeled jacket now",
        ),
        tried="wore",
        tags=("#hiking", "#camping", "#outdoors", "#trail"),
    ),
}

FRIENDS = ("minji_95", "hyunwoo.k", "jisoo__", "alex_k", "sam.lee", "daniel_p", "yuna.park", "chris_w")
EMOJI_POSITIVE = ("😍", "👍", "❤️", "✨", "🙌", "🔥", "", "")
EMOJI_NEGATIVE = ("😡", "😤", "🙄", "😞", "💢", "", "")
EMOJI_NEUTRAL = ("👀", "🤔", "", "")

# (sentiment, intent) → templates. Placeholders: brand (Latin name), brand_ko, product, issue,
# tried, tag, emoji, friend.
TEMPLATES: dict[tuple[str, str, str], tuple[str, ...]] = {
    (KO, POSITIVE, PRAISE): (
        "{product} 진짜 최고예요 {emoji}",
        "{brand_ko} {product} 또 주문했어요 {emoji} {tag}",
        "오늘 {product} 처음 {tried} 완전 만족 {emoji}",
        "{brand} 덕분에 하루가 즐거워요 {emoji}",
        "{product} 재구매 의사 100%입니다 {tag}",
        "직원분들 너무 친절하세요. {brand_ko} 최고! {emoji}",
        "{product} 가성비 대박이에요 {emoji}",
    ),
    (KO, NEUTRAL, CHATTER): (
        "{product} 신상 나왔네요 {tag}",
        "주말에 {brand_ko} 가볼까 고민 중",
        "@{friend} 이거 봐봐 {product}",
        "출근길에 {brand_ko} 광고 봤어요 {emoji}",
        "{brand} 이번 시즌 사진 분위기 좋네요",
    ),
    (KO, NEGATIVE, CHATTER): (
        "{product} 이번엔 좀 별로인 듯 {emoji}",
        "요즘 {brand_ko} 예전 같지 않네요 {emoji}",
        "광고가 너무 자주 떠요. 좀 피곤하네요",
    ),
    (KO, NEUTRAL, QUESTION): (
        "{product} 언제 다시 들어와요?",
        "{product} 가격이 얼마예요?",
        "이벤트 참여는 어떻게 하나요?",
        "{brand_ko} 고객센터 운영 시간이 어떻게 되나요?",
        "{product} 온라인에서도 살 수 있나요? {emoji}",
    ),
    (KO, NEGATIVE, COMPLAINT): (
        "{issue}. 확인 부탁드립니다 {emoji}",
        "{brand_ko} 진짜 실망이에요. {issue}",
        "{issue}. 고객센터는 연결도 안 되고요 {emoji}",
        "{issue}... 환불해 주세요",
        "{brand} 왜 이래요? {issue} {emoji}",
    ),
    (EN, POSITIVE, PRAISE): (
        "The {product} is amazing {emoji}",
        "Just {tried} the {product} from {brand} and I'm hooked {emoji} {tag}",
        "Huge thanks to the {brand} team, so friendly {emoji}",
        "Best {product} I've had in a long time",
        "{brand} never disappoints {emoji}",
    ),
    (EN, NEUTRAL, CHATTER): (
        "New {product} just dropped {tag}",
        "Thinking about checking out {brand} this weekend",
        "@{friend} look at this {product}",
        "Saw the {brand} ad on my way to work {emoji}",
    ),
    (EN, NEGATIVE, CHATTER): (
        "Not a fan of the new {product} tbh {emoji}",
        "{brand} used to be better {emoji}",
        "Seeing way too many ads from {brand} lately",
    ),
    (EN, NEUTRAL, QUESTION): (
        "When is the {product} back in stock?",
        "How much is the {product}?",
        "How do I join the giveaway?",
        "What are your customer service hours?",
        "Can I order the {product} online? {emoji}",
    ),
    (EN, NEGATIVE, COMPLAINT): (
        "{issue}. Please fix this {emoji}",
        "Really disappointed with {brand}. {issue}",
        "{issue} and nobody answers the support line {emoji}",
        "{issue}. I want a refund",
        "Come on {brand}. {issue} {emoji}",
    ),
}

POST_TEMPLATES: dict[str, tuple[str, ...]] = {
    KO: (
        "{product} 출시! 지금 {brand_ko}에서 만나보세요 {emoji} {tag}",
        "이번 주말 {product} 1+1 이벤트 {emoji}",
        "댓글로 친구를 태그하면 추첨을 통해 {product} 선물을 드려요 {tag}",
        "{brand} 겨울 캠페인 비하인드 공개 {emoji}",
    ),
    EN: (
        "Meet the new {product}. Available now {emoji} {tag}",
        "This weekend only: 2-for-1 on the {product} {emoji}",
        "Tag a friend for a chance to win a {product} {tag}",
        "Behind the scenes of the {brand} winter campaign {emoji}",
    ),
}

# Tone-deaf brand posts: they drive negative comments and unfollows.
OFFENSIVE_POST_TEMPLATES: dict[str, tuple[str, ...]] = {
    KO: (
        "아직도 작년 제품 쓰는 분들 창피하지 않으세요? ㅋㅋ {tag}",
        "주말에 일하는 사람들은 인생 낭비 중 😂 {tag}",
        "{product} 살 돈 없으면 더 열심히 사세요 ㅋㅋ",
    ),
    EN: (
        "Still using last year's stuff? Embarrassing 😂 {tag}",
        "Weekend workers are just wasting their lives lol {tag}",
        "Can't afford the {product}? Maybe try harder 🙄",
    ),
}

BRAND_REPLY_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    (KO, COMPLAINT): (
        "불편을 드려 정말 죄송합니다. DM으로 주문번호를 보내주시면 바로 확인하겠습니다.",
        "말씀해 주셔서 감사합니다. 담당 부서에 바로 전달했습니다.",
    ),
    (KO, QUESTION): (
        "문의 감사합니다! 자세한 내용은 프로필 링크에서 확인하실 수 있어요.",
        "다음 주 중에 다시 만나보실 수 있어요 {emoji}",
    ),
    (KO, PRAISE): ("좋게 봐주셔서 감사합니다 {emoji}", "앞으로도 많이 사랑해 주세요!"),
    (EN, COMPLAINT): (
        "We're really sorry about this. Please DM us your order number and we'll sort it out.",
        "Thanks for flagging this, we've passed it to the team right away.",
    ),
    (EN, QUESTION): (
        "Thanks for asking! All the details are at the link in our bio.",
        "It's back next week {emoji}",
    ),
    (EN, PRAISE): ("Thank you so much {emoji}", "This made our day!"),
}
ME_TOO = {KO: "저도요 ㅠㅠ ", EN: "Same here. "}


@dataclass(frozen=True)
class Text:
    text: str
    lang: str
    sentiment: str
    intent: str


def _fill(
    rng: random.Random,
    template: str,
    lang: str,
    category: str,
    names: tuple[str, str],
    emojis: tuple[str, ...] = EMOJI_NEUTRAL,
    issue: str | None = None,
) -> str:
    vocab = VOCABULARY[(category, lang)]
    values = {
        "brand": names[0],
        "brand_ko": names[1] if lang == KO else names[0],
        "product": rng.choice(vocab.products),
        "issue": issue if issue is not None else rng.choice(vocab.issues),
        "tried": vocab.tried,
        "tag": rng.choice(vocab.tags) if rng.random() < 0.6 else "",
        "emoji": rng.choice(emojis),
        "friend": rng.choice(FRIENDS),
    }
    return " ".join(template.format(**values).split())


def _emojis(sentiment: str) -> tuple[str, ...]:
    return {POSITIVE: EMOJI_POSITIVE, NEGATIVE: EMOJI_NEGATIVE}.get(sentiment, EMOJI_NEUTRAL)


def audience_text(
    rng: random.Random,
    lang: str,
    category: str,
    names: tuple[str, str],
    sentiment: str,
    intent: str,
    crisis: bool = False,
    prefix: str = "",
) -> Text:
    """A customer comment, mention, message or reply with known sentiment and intent."""
    template = rng.choice(TEMPLATES[(lang, sentiment, intent)])
    issue = rng.choice(VOCABULARY[(category, lang)].crisis_issues) if crisis else None
    text = _fill(rng, template, lang, category, names, _emojis(sentiment), issue)
    return Text(prefix + text, lang, sentiment, intent)


def post_text(rng: random.Random, lang: str, category: str, names: tuple[str, str], offensive: bool) -> Text:
    """A brand post: a campaign announcement, or a tone-deaf one when ``offensive``."""
    if offensive:
        template = rng.choice(OFFENSIVE_POST_TEMPLATES[lang])
        return Text(_fill(rng, template, lang, category, names), lang, NEGATIVE, CHATTER)
    template = rng.choice(POST_TEMPLATES[lang])
    return Text(_fill(rng, template, lang, category, names, EMOJI_POSITIVE), lang, POSITIVE, CHATTER)


def brand_reply_text(
    rng: random.Random, lang: str, category: str, names: tuple[str, str], intent: str
) -> Text:
    """The brand answering a customer: apologies for complaints, answers for questions, thanks otherwise."""
    key = (lang, intent if intent in (COMPLAINT, QUESTION) else PRAISE)
    template = rng.choice(BRAND_REPLY_TEMPLATES[key])
    sentiment = POSITIVE if key[1] == PRAISE else NEUTRAL
    return Text(_fill(rng, template, lang, category, names, EMOJI_POSITIVE), lang, sentiment, CHATTER)
