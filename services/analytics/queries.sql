-- The analyst queries of docs/analysts.md, generated from it; edit the document, then run
-- python -m services.analytics.queries --from-doc docs/analysts.md > services/analytics/queries.sql

-- Q1: Engagement over time by platform
SELECT
    toStartOfHour(minute) AS hour,
    platform,
    uniqExactMerge(events) AS engagements
FROM events_minute
WHERE brand_id = {brand:String}
  AND minute >= {since:DateTime64(3, 'UTC')} AND minute < {until:DateTime64(3, 'UTC')}
  AND NOT is_brand
  AND event_type IN ('like', 'comment', 'reply', 'share', 'click', 'mention', 'message')
GROUP BY hour, platform
ORDER BY hour, platform

-- Q2: Sentiment mix per platform
SELECT
    platform,
    sentiment_label,
    uniqExactMerge(events) AS messages,
    round(messages / sum(messages) OVER (PARTITION BY platform), 4) AS share
FROM events_minute
WHERE brand_id = {brand:String}
  AND minute >= {since:DateTime64(3, 'UTC')} AND minute < {until:DateTime64(3, 'UTC')}
  AND NOT is_brand
  AND event_type IN ('comment', 'reply', 'mention', 'message')
GROUP BY platform, sentiment_label
ORDER BY platform, sentiment_label

-- Q3: Sentiment trend per platform
SELECT
    toStartOfHour(minute) AS hour,
    platform,
    uniqExactMerge(events) AS messages,
    uniqExactMergeIf(events, sentiment_label = 'positive') AS positive,
    uniqExactMergeIf(events, sentiment_label = 'negative') AS negative,
    round((positive - negative) / messages, 4) AS net_sentiment
FROM events_minute
WHERE brand_id = {brand:String}
  AND minute >= {since:DateTime64(3, 'UTC')} AND minute < {until:DateTime64(3, 'UTC')}
  AND NOT is_brand
  AND event_type IN ('comment', 'reply', 'mention', 'message')
GROUP BY hour, platform
ORDER BY hour, platform

-- Q4: Top posts by engagement
SELECT
    p.post_id AS post_id,
    p.platform AS platform,
    p.posted_at AS posted_at,
    p.campaign_id AS campaign_id,
    p.likes AS likes,
    p.comments AS comments,
    p.cascade_size AS shares,
    p.clicks AS clicks,
    p.likes + p.comments + p.cascade_size + p.clicks AS engagement,
    substringUTF8(ifNull(t.text, ''), 1, 80) AS text
FROM post_virality AS p FINAL
LEFT JOIN
(
    SELECT event_id, text
    FROM events FINAL
    WHERE brand_id = {brand:String} AND event_type = 'post'
) AS t ON t.event_id = p.post_id
WHERE p.brand_id = {brand:String}
  AND p.posted_at >= {since:DateTime64(3, 'UTC')} AND p.posted_at < {until:DateTime64(3, 'UTC')}
ORDER BY engagement DESC, post_id
LIMIT 10

-- Q5: Top posts by positive share of comments
SELECT
    post_id,
    any(platform) AS platform,
    sum(n) AS comments,
    sumIf(n, sentiment_label = 'positive') AS positive,
    sumIf(n, sentiment_label = 'negative') AS negative,
    round(positive / comments, 4) AS positive_share
FROM
(
    SELECT post_id, platform, sentiment_label, uniqExactMerge(events) AS n
    FROM post_engagement_5m
    WHERE brand_id = {brand:String}
      AND event_type = 'comment'
      AND bucket >= {since:DateTime64(3, 'UTC')} AND bucket < {until:DateTime64(3, 'UTC')}
    GROUP BY post_id, platform, sentiment_label
)
GROUP BY post_id
HAVING comments >= 5
ORDER BY positive_share DESC, comments DESC, post_id
LIMIT 10

-- Q6: Viral cascades
SELECT
    post_id,
    platform,
    posted_at,
    shares AS direct_shares,
    cascade_size,
    cascade_depth,
    cascade_breadth,
    unique_reach,
    unique_sharers,
    viral_coefficient,
    peak_share_velocity_5m,
    is_viral
FROM post_virality FINAL
WHERE brand_id = {brand:String}
  AND cascade_size > 0
  AND posted_at >= {since:DateTime64(3, 'UTC')} AND posted_at < {until:DateTime64(3, 'UTC')}
ORDER BY cascade_size DESC, post_id
LIMIT 20

-- Q7: Share velocity of the largest cascades
SELECT
    post_id,
    bucket,
    uniqExactMerge(events) AS shares,
    max(max_cascade_depth) AS deepest
FROM post_engagement_5m
WHERE brand_id = {brand:String}
  AND event_type = 'share'
  AND post_id IN
  (
      SELECT post_id
      FROM post_virality FINAL
      WHERE brand_id = {brand:String}
        AND posted_at >= {since:DateTime64(3, 'UTC')} AND posted_at < {until:DateTime64(3, 'UTC')}
      ORDER BY cascade_size DESC, post_id
      LIMIT 5
  )
GROUP BY post_id, bucket
ORDER BY post_id, bucket

-- Q8: Share of complaints answered within 1 h
SELECT
    c.platform AS platform,
    count() AS complaints,
    countIf(a.seconds IS NOT NULL) AS answered,
    countIf(a.seconds <= 3600) AS answered_within_1h,
    round(answered_within_1h / complaints, 4) AS share_within_1h
FROM
(
    SELECT event_id, platform
    FROM events FINAL
    WHERE brand_id = {brand:String}
      AND is_complaint AND NOT is_brand AND event_type IN ('comment', 'message')
      AND occurred_at >= {since:DateTime64(3, 'UTC')} AND occurred_at < {until:DateTime64(3, 'UTC')}
) AS c
LEFT JOIN
(
    SELECT assumeNotNull(parent_id) AS item_id, min(response_seconds) AS seconds
    FROM events FINAL
    WHERE brand_id = {brand:String} AND response_seconds IS NOT NULL
    GROUP BY item_id
) AS a ON a.item_id = c.event_id
GROUP BY platform
ORDER BY platform

-- Q9: Response-time distribution
SELECT
    le_seconds,
    uniqExactMerge(replies) AS answered,
    round(answered / sum(answered) OVER (), 4) AS share,
    round(sum(answered) OVER (ORDER BY le_seconds) / sum(answered) OVER (), 4) AS cumulative_share
FROM response_times_hourly
WHERE brand_id = {brand:String}
  AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
GROUP BY le_seconds
ORDER BY le_seconds

-- Q10: Response time per platform
SELECT
    platform,
    count() AS answered,
    round(avg(seconds), 1) AS mean_seconds,
    quantileExactLow(0.5)(seconds) AS median_seconds,
    quantileExactLow(0.9)(seconds) AS p90_seconds,
    round(countIf(seconds <= 3600) / answered, 4) AS share_within_1h
FROM
(
    SELECT platform, tupleElement(arrayJoin(groupUniqArrayMerge(responses)), 2) AS seconds
    FROM response_times_hourly
    WHERE brand_id = {brand:String}
      AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
    GROUP BY platform
)
GROUP BY ROLLUP(platform)
ORDER BY platform = '', platform

-- Q11: Funnel conversion by campaign
SELECT
    campaign_id,
    uniqExactMergeIf(actors, event_type = 'click') AS clicked,
    uniqExactMergeIf(actors, event_type = 'lead') AS leads,
    uniqExactMergeIf(actors, event_type = 'purchase') AS customers,
    round(if(clicked = 0, 0, leads / clicked), 4) AS click_to_lead,
    round(if(leads = 0, 0, customers / leads), 4) AS lead_to_customer,
    round(if(clicked = 0, 0, customers / clicked), 4) AS click_to_customer
FROM campaign_funnel_hourly
WHERE brand_id = {brand:String}
  AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
GROUP BY campaign_id
ORDER BY customers DESC, clicked DESC, campaign_id

-- Q12: Touches before purchase
SELECT
    touches_before_conversion AS touches,
    uniqExactMerge(customers) AS customers,
    round(customers / sum(customers) OVER (), 4) AS share
FROM conversions_hourly
WHERE brand_id = {brand:String}
  AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
GROUP BY touches
ORDER BY touches

-- Q13: First-touch vs last-touch attribution by campaign
SELECT
    campaign_id,
    sumIf(n, model = 'first') AS first_touch_customers,
    sumIf(n, model = 'last') AS last_touch_customers
FROM
(
    SELECT 'first' AS model, first_touch_campaign_id AS campaign_id, uniqExactMerge(customers) AS n
    FROM conversions_hourly
    WHERE brand_id = {brand:String}
      AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
    GROUP BY campaign_id
    UNION ALL
    SELECT 'last' AS model, last_touch_campaign_id AS campaign_id, uniqExactMerge(customers) AS n
    FROM conversions_hourly
    WHERE brand_id = {brand:String}
      AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
    GROUP BY campaign_id
)
GROUP BY campaign_id
ORDER BY first_touch_customers + last_touch_customers DESC, campaign_id

-- Q14: Which posts lost fans
SELECT
    f.post_id AS post_id,
    p.platform AS platform,
    p.posted_at AS posted_at,
    f.unfollows AS unfollows,
    f.unfollowers AS unfollowers,
    round(f.first_seconds / 60, 1) AS first_unfollow_after_minutes,
    p.likes + p.comments + p.cascade_size + p.clicks AS engagement,
    p.negative_comments AS negative_comments,
    p.complaints AS complaints,
    t.promotional AS promotional,
    substringUTF8(t.text, 1, 80) AS text
FROM
(
    SELECT
        post_id,
        uniqExactMerge(unfollows) AS unfollows,
        uniqExactMerge(unfollowers) AS unfollowers,
        min(min_seconds_since_post) AS first_seconds
    FROM fan_loss_hourly
    WHERE brand_id = {brand:String}
      AND post_id != ''
      AND hour >= {since:DateTime64(3, 'UTC')} AND hour < {until:DateTime64(3, 'UTC')}
    GROUP BY post_id
) AS f
LEFT JOIN
(
    SELECT * FROM post_virality FINAL WHERE brand_id = {brand:String}
) AS p ON p.post_id = f.post_id
LEFT JOIN
(
    SELECT event_id, ifNull(text, '') AS text, match(lower(ifNull(text, '')), '(\\bsale\\b|% off|discount|\\bdeals?\\b|\\bbuy\\b|shop now|order now|available now|2-for-1|coupon|promo|giveaway|chance to win|free shipping|limited time|할인|특가|쿠폰|이벤트|1\\+1|출시|구매|증정|추첨|세일|만나보세요)') AS promotional
    FROM events FINAL
    WHERE brand_id = {brand:String} AND is_brand AND event_type = 'post'
) AS t ON t.event_id = f.post_id
ORDER BY unfollows DESC, post_id
LIMIT 10

-- Q15: Alerts with their sample posts
SELECT
    a.alert_id AS alert_id,
    a.kind AS kind,
    a.severity AS severity,
    a.window_start AS window_start,
    a.window_end AS window_end,
    a.event_time AS fired_at,
    r.resolved_at AS resolved_at,
    a.summary AS summary,
    sample.1 AS sample_event_id,
    sample.2 AS sample_text,
    e.platform AS platform,
    e.event_type AS event_type,
    e.post_id AS post_id,
    substringUTF8(ifNull(post.text, ''), 1, 80) AS post_text
FROM alerts AS a FINAL
LEFT ARRAY JOIN
    arrayZip(a.sample_event_ids, arrayResize(a.sample_texts, length(a.sample_event_ids), '')) AS sample
LEFT JOIN
(
    SELECT alert_id, min(event_time) AS resolved_at
    FROM alerts FINAL
    WHERE brand_id = {brand:String} AND status = 'resolved'
    GROUP BY alert_id
) AS r ON r.alert_id = a.alert_id
LEFT JOIN
(
    SELECT event_id, toNullable(platform) AS platform, toNullable(event_type) AS event_type, post_id
    FROM events FINAL
    WHERE brand_id = {brand:String}
) AS e ON e.event_id = sample.1
LEFT JOIN
(
    SELECT event_id, text
    FROM events FINAL
    WHERE brand_id = {brand:String} AND event_type = 'post'
) AS post ON post.event_id = e.post_id
WHERE a.brand_id = {brand:String}
  AND a.status = 'firing'
  AND a.window_end > {since:DateTime64(3, 'UTC')} AND a.window_start < {until:DateTime64(3, 'UTC')}
ORDER BY a.window_start, fired_at, alert_id, sample_event_id

-- Q16: Alerts timeline
SELECT
    a.alert_id AS alert_id,
    a.kind AS kind,
    a.severity AS severity,
    a.window_start AS window_start,
    a.window_end AS window_end,
    a.event_time AS fired_at,
    r.resolved_at AS resolved_at,
    a.observed AS observed,
    a.expected AS expected,
    a.score AS score,
    a.processed_at AS processed_at
FROM alerts AS a FINAL
LEFT JOIN
(
    SELECT alert_id, min(event_time) AS resolved_at
    FROM alerts FINAL
    WHERE brand_id = {brand:String} AND status = 'resolved'
    GROUP BY alert_id
) AS r ON r.alert_id = a.alert_id
WHERE a.brand_id = {brand:String}
  AND a.status = 'firing'
  AND a.window_end > {since:DateTime64(3, 'UTC')} AND a.window_start < {until:DateTime64(3, 'UTC')}
ORDER BY a.window_start, fired_at, alert_id

-- Q17: Response backlog and fan loss now
SELECT
    open_items,
    unanswered_complaints,
    answered_items,
    answered_complaints,
    mean_response_seconds,
    unfollows,
    unfollows_attributed
FROM brand_backlog FINAL
WHERE brand_id = {brand:String}

-- Q18: Complaint volume per 10 minutes
SELECT
    toStartOfTenMinutes(minute) AS window_start,
    uniqExactMergeIf(events, is_complaint) AS complaints,
    uniqExactMergeIf(events, sentiment_label = 'negative') AS negative,
    uniqExactMerge(events) AS audience_events
FROM events_minute
WHERE brand_id = {brand:String}
  AND minute >= {since:DateTime64(3, 'UTC')} AND minute < {until:DateTime64(3, 'UTC')}
  AND NOT is_brand
GROUP BY window_start
ORDER BY window_start

-- Q19: Unique audience per day and platform
SELECT
    toDate(minute) AS day,
    platform,
    uniqExactMerge(actors) AS people,
    uniqExactMerge(events) AS events
FROM events_minute
WHERE brand_id = {brand:String}
  AND minute >= {since:DateTime64(3, 'UTC')} AND minute < {until:DateTime64(3, 'UTC')}
  AND NOT is_brand
GROUP BY day, platform
ORDER BY day, platform

-- Q20: Posting cadence, follows and unfollows per hour
SELECT
    toStartOfHour(occurred_at) AS hour,
    countIf(is_brand AND event_type = 'post') AS brand_posts,
    countIf(is_brand AND event_type = 'post' AND match(lower(ifNull(text, '')), '(\\bsale\\b|% off|discount|\\bdeals?\\b|\\bbuy\\b|shop now|order now|available now|2-for-1|coupon|promo|giveaway|chance to win|free shipping|limited time|할인|특가|쿠폰|이벤트|1\\+1|출시|구매|증정|추첨|세일|만나보세요)')) AS promotional_posts,
    countIf(NOT is_brand AND event_type = 'follow') AS follows,
    countIf(NOT is_brand AND event_type = 'unfollow') AS unfollows,
    countIf(NOT is_brand AND event_type = 'unfollow' AND ifNull(attributed_post_id, '') != '') AS unfollows_after_posts,
    follows - unfollows AS net_followers
FROM events FINAL
WHERE brand_id = {brand:String}
  AND event_type IN ('post', 'follow', 'unfollow')
  AND occurred_at >= {since:DateTime64(3, 'UTC')} AND occurred_at < {until:DateTime64(3, 'UTC')}
GROUP BY hour
ORDER BY hour

-- Q21: Promotional share of brand posts
SELECT
    p.platform AS platform,
    count() AS brand_posts,
    countIf(p.promotional) AS promotional_posts,
    round(promotional_posts / brand_posts, 4) AS promotional_share,
    sumIf(f.unfollows, p.promotional) AS unfollows_after_promotional,
    sumIf(f.unfollows, NOT p.promotional) AS unfollows_after_other,
    round(if(promotional_posts = 0, 0, unfollows_after_promotional / promotional_posts), 2)
        AS unfollows_per_promotional_post,
    round(if(brand_posts = promotional_posts, 0, unfollows_after_other / (brand_posts - promotional_posts)), 2)
        AS unfollows_per_other_post
FROM
(
    SELECT event_id, platform, match(lower(ifNull(text, '')), '(\\bsale\\b|% off|discount|\\bdeals?\\b|\\bbuy\\b|shop now|order now|available now|2-for-1|coupon|promo|giveaway|chance to win|free shipping|limited time|할인|특가|쿠폰|이벤트|1\\+1|출시|구매|증정|추첨|세일|만나보세요)') AS promotional
    FROM events FINAL
    WHERE brand_id = {brand:String} AND is_brand AND event_type = 'post'
      AND occurred_at >= {since:DateTime64(3, 'UTC')} AND occurred_at < {until:DateTime64(3, 'UTC')}
) AS p
LEFT JOIN
(
    SELECT post_id, uniqExactMerge(unfollows) AS unfollows
    FROM fan_loss_hourly
    WHERE brand_id = {brand:String} AND post_id != ''
    GROUP BY post_id
) AS f ON f.post_id = p.event_id
GROUP BY platform
ORDER BY platform

-- Q22: Rising terms in negative and complaint messages
SELECT
    term,
    multiIf(match(term, '\\p{Hangul}'), 'ko', match(term, '^[a-z0-9]+$'), 'en', 'other') AS language,
    uniqExactIf(event_id, current) AS messages_now,
    uniqExactIf(event_id, NOT current) AS messages_before,
    any(v.volume_now) AS volume_now,
    any(v.volume_before) AS volume_before,
    round((messages_now + 1) / (messages_before * if(volume_before = 0, 0, volume_now / volume_before) + 1), 2)
        AS lift
FROM
(
    SELECT
        event_id,
        occurred_at >= {since:DateTime64(3, 'UTC')} AS current,
        arrayJoin(arrayDistinct(arrayFilter(
            w -> lengthUTF8(w) >= 2 AND NOT match(w, '^[\\x{3131}-\\x{318E}]+$') AND w NOT IN ('the', 'and', 'you', 'for', 'this', 'that', 'with', 'are',
                'was', 'not', 'but', 'have', 'has', 'just', 'your', 'our', 'its', 'it', 'is', 'my', 'me', 'to',
                'of', 'in', 'on', 'at', 'an', 'so', 'be', 'no', 'do', 'what', 'why', 'how', 'from', 'they',
                'get', 'got', 'all', 'can', 'will', 'im', 'dont', 'after', 'here', 'there', 'we', 'us', 'or',
                'if', 'too', 'very', 'again', 'still', 'any', 'one', 'now', 'as', 'by', 'up', 'out'),
            arrayMap(
                w -> replaceRegexpOne(w, '^(\\p{Hangul}+?)(이에요|예요|에요|했어요|해요|어요|아요|네요|합니다|입니다|했는데|는데|에서|에게|으로|까지|부터|보다|처럼|한테|이랑|하고|이나|라도|이|가|은|는|을|를|에|의|도|로|요|과|와|만|한|인)$', '\\1'),
                splitByRegexp('[^\\p{L}\\p{N}]+', lower(ifNull(text, '')))
            )
        ))) AS term
    FROM events FINAL
    WHERE brand_id = {brand:String}
      AND NOT is_brand
      AND event_type IN ('comment', 'reply', 'mention', 'message')
      AND (sentiment_label = 'negative' OR is_complaint)
      AND occurred_at < {until:DateTime64(3, 'UTC')}
      AND occurred_at >= {since:DateTime64(3, 'UTC')}
          - toIntervalSecond(dateDiff('second', {since:DateTime64(3, 'UTC')}, {until:DateTime64(3, 'UTC')}))
) AS m
CROSS JOIN
(
    SELECT
        countIf(occurred_at >= {since:DateTime64(3, 'UTC')}) AS volume_now,
        countIf(occurred_at < {since:DateTime64(3, 'UTC')}) AS volume_before
    FROM events FINAL
    WHERE brand_id = {brand:String}
      AND NOT is_brand
      AND event_type IN ('comment', 'reply', 'mention', 'message')
      AND (sentiment_label = 'negative' OR is_complaint)
      AND occurred_at < {until:DateTime64(3, 'UTC')}
      AND occurred_at >= {since:DateTime64(3, 'UTC')}
          - toIntervalSecond(dateDiff('second', {since:DateTime64(3, 'UTC')}, {until:DateTime64(3, 'UTC')}))
) AS v
GROUP BY term
HAVING messages_now >= 3
ORDER BY
    (messages_now + 1) / (messages_before * if(volume_before = 0, 0, volume_now / volume_before) + 1) DESC,
    messages_now DESC,
    term
LIMIT 10 BY language
