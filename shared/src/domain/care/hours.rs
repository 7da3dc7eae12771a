//! Business hours: weekly opening periods in an IANA time zone (several a day, overnight
//! ones too), closed on dated holidays, and the arithmetic of business time: when a person
//! is next at work, and when a clock that runs only in working hours falls due.
//!
//! Periods are local wall-clock times, so "09:00–17:00" stays 09:00–17:00 across a DST
//! change (that day's period is simply an hour shorter or longer in UTC); a local time a
//! spring-forward gap skips is read as the first instant after the gap.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

const DAY_MINUTES: u16 = 24 * 60;
/// How far ahead to look for an opening: a week with any opening hours has one within 8
/// days, however many holidays follow (those are capped below).
const SEARCH_DAYS: i64 = 400;
const MAX_HOLIDAYS: usize = 366;

/// When a team works.
#[derive(Clone, PartialEq, Eq)]
pub struct BusinessHours {
    zone: Tz,
    /// Per weekday from Monday: open minutes since local midnight, `[start, end)`, sorted,
    /// not overlapping. An overnight period is split at midnight.
    week: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<NaiveDate>,
    /// Open every minute of every day: no arithmetic needed.
    always: bool,
}

impl fmt::Debug for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.always {
            return f.write_str("BusinessHours(24/7)");
        }
        write!(f, "BusinessHours({}, {:?}, {} holidays)", self.zone, self.week, self.holidays.len())
    }
}

impl BusinessHours {
    /// Around the clock, every day.
    pub fn always() -> Self {
        BusinessHours {
            zone: Tz::UTC,
            week: std::array::from_fn(|_| vec![(0, DAY_MINUTES)]),
            holidays: BTreeSet::new(),
            always: true,
        }
    }

    /// `zone`: an IANA name ("Europe/London"). `hours`: "24/7", or `;`-separated days with
    /// periods, e.g. "mon-fri 09:00-12:30,13:30-17:30; sat 10:00-14:00; sun 22:00-02:00"
    /// (a period ending before it starts runs past midnight). `holidays`: closed dates,
    /// "2026-12-25", in that zone.
    pub fn parse(zone: &str, hours: &str, holidays: &[String]) -> Result<Self, String> {
        let zone: Tz = zone.trim().parse().map_err(|_| format!("{zone:?} is not an IANA time zone name"))?;
        let mut holiday_dates = BTreeSet::new();
        for day in holidays.iter().map(|d| d.trim()).filter(|d| !d.is_empty()) {
            let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| format!("holiday {day:?} is not a date like 2026-12-25"))?;
            holiday_dates.insert(date);
        }
        if holiday_dates.len() > MAX_HOLIDAYS {
            return Err(format!("at most {MAX_HOLIDAYS} holidays, not {}", holiday_dates.len()));
        }
        let hours = hours.trim();
        if hours.is_empty() || hours.eq_ignore_ascii_case("24/7") {
            let always = holiday_dates.is_empty();
            return Ok(BusinessHours { zone, holidays: holiday_dates, ..BusinessHours::always() }.with_always(always));
        }
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for clause in hours.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            let (days, periods) = clause
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{clause:?}: expected days and periods, like \"mon-fri 09:00-17:00\""))?;
            let days = parse_days(days)?;
            for period in periods.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (start, end) =
                    period.split_once('-').ok_or_else(|| format!("{period:?}: expected a period like 09:00-17:00"))?;
                let (start, end) = (parse_time(start)?, parse_time(end)?);
                if start == end {
                    return Err(format!("{period:?}: an empty period"));
                }
                for day in &days {
                    let day = day.num_days_from_monday() as usize;
                    if start < end {
                        week[day].push((start, end));
                    } else {
                        week[day].push((start, DAY_MINUTES));
                        if end > 0 {
                            week[(day + 1) % 7].push((0, end));
                        }
                    }
                }
            }
        }
        for (i, day) in week.iter_mut().enumerate() {
            day.sort_unstable();
            if let Some(pair) = day.windows(2).find(|p| p[1].0 < p[0].1) {
                return Err(format!(
                    "{}: periods {} and {} overlap",
                    Weekday::try_from(i as u8).map(|d| d.to_string()).unwrap_or_default(),
                    show(pair[0]),
                    show(pair[1])
                ));
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err("business hours open on no day of the week".into());
        }
        Ok(BusinessHours { zone, week, holidays: holiday_dates, always: false })
    }

    fn with_always(mut self, always: bool) -> Self {
        self.always = always;
        self
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Open around the clock (nothing to pause, nowhere "off hours").
    pub fn is_always(&self) -> bool {
        self.always
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.always || self.intervals_from(at).next().is_some_and(|(start, _)| start == at)
    }

    /// The first instant at or after `at` when the team is at work.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.always {
            return at;
        }
        self.intervals_from(at).next().map_or(at, |(start, _)| start)
    }

    /// The instant `duration` of working time after `start`: a clock that pauses outside
    /// business hours.
    pub fn add(&self, start: DateTime<Utc>, duration: TimeDelta) -> DateTime<Utc> {
        if self.always || duration <= TimeDelta::zero() {
            return start + duration;
        }
        let mut remaining = duration;
        for (from, to) in self.intervals_from(start) {
            let open = to - from;
            if remaining <= open {
                return from + remaining;
            }
            remaining -= open;
        }
        // Unreachable for hours that open on some weekday: counted as calendar time.
        start + duration
    }

    /// Working time between two instants.
    pub fn open_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if self.always || to <= from {
            return (to - from).max(TimeDelta::zero());
        }
        let mut total = TimeDelta::zero();
        for (start, end) in self.intervals_from(from) {
            if start >= to {
                break;
            }
            total += end.min(to) - start;
        }
        total
    }

    /// Open intervals in UTC, in order, the first clipped to start at `at`.
    fn intervals_from(&self, at: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        // The local day before too: its period may run into `at`'s day after a DST shift.
        let first_day = at.with_timezone(&self.zone).date_naive() - TimeDelta::days(1);
        (0..SEARCH_DAYS)
            .map(move |n| first_day + TimeDelta::days(n))
            .filter(|day| !self.holidays.contains(day))
            .flat_map(move |day| {
                self.week[day.weekday().num_days_from_monday() as usize]
                    .iter()
                    .map(move |(start, end)| (self.instant(day, *start), self.instant(day, *end)))
            })
            .filter(move |(_, end)| *end > at)
            .map(move |(start, end)| (start.max(at), end))
            .filter(|(start, end)| end > start)
    }

    /// The UTC instant of `minute` past local midnight on `day`.
    fn instant(&self, day: NaiveDate, minute: u16) -> DateTime<Utc> {
        let local = if minute >= DAY_MINUTES {
            (day + TimeDelta::days(1)).and_time(NaiveTime::MIN)
        } else {
            day.and_time(NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0).expect("valid"))
        };
        self.resolve(local)
    }

    /// A local time as a UTC instant: the earlier of two in an autumn repeat, the first
    /// instant after the gap in a spring skip.
    fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        if let Some(at) = self.zone.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        (1..=180)
            .find_map(|m| self.zone.from_local_datetime(&(local + TimeDelta::minutes(m))).earliest())
            .map_or_else(|| Utc.from_utc_datetime(&local), |at| at.with_timezone(&Utc))
    }

    /// "today at 09:00 GMT", "tomorrow at 09:00 GMT", "on Monday at 09:00 GMT",
    /// "on 2 January at 09:00 GMT": when a person will answer, said from `now`.
    pub fn describe(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let local = at.with_timezone(&self.zone);
        let today = now.with_timezone(&self.zone).date_naive();
        let days = (local.date_naive() - today).num_days();
        let time = local.format("%H:%M %Z");
        match days {
            ..=0 => format!("today at {time}"),
            1 => format!("tomorrow at {time}"),
            2..=6 => format!("on {} at {time}", local.format("%A")),
            _ => format!("on {} at {time}", local.format("%-d %B")),
        }
    }
}

fn parse_days(days: &str) -> Result<Vec<Weekday>, String> {
    let mut out = Vec::new();
    for part in days.split(',').map(str::trim) {
        let day =
            |name: &str| name.parse::<Weekday>().map_err(|_| format!("{name:?} is not a day (mon, tue, ... sun)"));
        match part.split_once('-') {
            Some((from, to)) => {
                let (mut d, to) = (day(from)?, day(to)?);
                out.push(d);
                while d != to {
                    d = d.succ();
                    out.push(d);
                }
            }
            None => out.push(day(part)?),
        }
    }
    Ok(out)
}

fn parse_time(time: &str) -> Result<u16, String> {
    let time = time.trim();
    let bad = || format!("{time:?} is not a time like 09:00 (00:00 to 24:00)");
    let (hours, minutes) = time.split_once(':').ok_or_else(bad)?;
    let (hours, minutes): (u16, u16) = (hours.parse().map_err(|_| bad())?, minutes.parse().map_err(|_| bad())?);
    if minutes >= 60 || hours > 24 || (hours == 24 && minutes > 0) {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

fn show((start, end): (u16, u16)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn london() -> BusinessHours {
        BusinessHours::parse(
            "Europe/London",
            "mon-fri 09:00-12:30,13:30-17:30; sat 10:00-14:00",
            &["2026-12-25".into()],
        )
        .unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn opening_times_in_the_zone_of_the_team() {
        let hours = london();
        // Friday 4 December 2026, London is on GMT (UTC+0).
        assert!(hours.is_open(utc(2026, 12, 4, 9, 0)));
        assert!(!hours.is_open(utc(2026, 12, 4, 12, 45)), "lunch");
        assert!(!hours.is_open(utc(2026, 12, 4, 17, 30)), "closing time is closed");
        assert_eq!(hours.next_open(utc(2026, 12, 4, 12, 45)), utc(2026, 12, 4, 13, 30));
        // Friday evening: Saturday 10:00.
        assert_eq!(hours.next_open(utc(2026, 12, 4, 18, 0)), utc(2026, 12, 5, 10, 0));
        // Saturday after 14:00: Monday 09:00.
        assert_eq!(hours.next_open(utc(2026, 12, 5, 15, 0)), utc(2026, 12, 7, 9, 0));
        // Christmas Day (a Friday) is a holiday.
        assert_eq!(hours.next_open(utc(2026, 12, 24, 18, 0)), utc(2026, 12, 26, 10, 0));
        // In summer (BST, UTC+1) 09:00 local is 08:00 UTC.
        assert_eq!(hours.next_open(utc(2026, 7, 6, 7, 0)), utc(2026, 7, 6, 8, 0));
    }

    #[test]
    fn a_clock_in_business_time_pauses_outside_hours() {
        let hours = london();
        // 30 minutes asked at Friday 17:15: 15 before closing, 15 after Saturday's opening.
        assert_eq!(hours.add(utc(2026, 12, 4, 17, 15), TimeDelta::minutes(30)), utc(2026, 12, 5, 10, 15));
        // Across lunch.
        assert_eq!(hours.add(utc(2026, 12, 4, 12, 0), TimeDelta::minutes(60)), utc(2026, 12, 4, 14, 0));
        // Started while closed: runs from the opening.
        assert_eq!(hours.add(utc(2026, 12, 6, 12, 0), TimeDelta::minutes(15)), utc(2026, 12, 7, 9, 15));
        assert_eq!(
            BusinessHours::always().add(utc(2026, 12, 6, 12, 0), TimeDelta::minutes(15)),
            utc(2026, 12, 6, 12, 15)
        );
    }

    #[test]
    fn dst_changes_keep_local_opening_times() {
        let hours = BusinessHours::parse("Europe/London", "mon-sun 09:00-17:00", &[]).unwrap();
        // Sunday 29 March 2026: clocks go forward at 01:00 UTC; 09:00 BST is 08:00 UTC.
        assert_eq!(hours.next_open(utc(2026, 3, 29, 0, 0)), utc(2026, 3, 29, 8, 0));
        assert_eq!(hours.next_open(utc(2026, 3, 28, 18, 0)), utc(2026, 3, 29, 8, 0));
        // Sunday 25 October 2026: back to GMT.
        assert_eq!(hours.next_open(utc(2026, 10, 24, 18, 0)), utc(2026, 10, 25, 9, 0));
        // An overnight shift across the spring-forward gap (local 01:00-03:00 does not exist
        // between 01:00 and 02:00): the period is an hour shorter.
        let night = BusinessHours::parse("Europe/London", "sat 22:00-06:00", &[]).unwrap();
        let start = utc(2026, 3, 28, 22, 0);
        assert_eq!(night.open_between(start, utc(2026, 3, 29, 12, 0)), TimeDelta::hours(7));
    }

    #[test]
    fn when_a_person_answers_is_said_in_words() {
        let hours = london();
        let now = utc(2026, 12, 4, 18, 0); // Friday evening
        assert_eq!(hours.describe(hours.next_open(now), now), "tomorrow at 10:00 GMT");
        let now = utc(2026, 12, 5, 15, 0); // Saturday afternoon
        assert_eq!(hours.describe(hours.next_open(now), now), "on Monday at 09:00 GMT");
        let now = utc(2026, 12, 4, 12, 45);
        assert_eq!(hours.describe(hours.next_open(now), now), "today at 13:30 GMT");
        let tokyo = BusinessHours::parse("Asia/Tokyo", "mon-fri 09:00-18:00", &[]).unwrap();
        let now = utc(2026, 12, 4, 12, 0); // Friday 21:00 in Tokyo
        assert_eq!(tokyo.describe(tokyo.next_open(now), now), "on Monday at 09:00 JST");
    }

    #[test]
    fn bad_hours_are_refused_with_what_is_wrong() {
        let refused = |zone: &str, hours: &str, holidays: &[&str]| {
            let holidays: Vec<String> = holidays.iter().map(|h| (*h).to_owned()).collect();
            BusinessHours::parse(zone, hours, &holidays).unwrap_err()
        };
        assert!(refused("Mars/Olympus", "24/7", &[]).contains("IANA"));
        assert!(refused("UTC", "mon-fri 9-17", &[]).contains("not a time"));
        assert!(refused("UTC", "funday 09:00-17:00", &[]).contains("not a day"));
        assert!(refused("UTC", "mon 09:00-17:00, 12:00-13:00", &[]).contains("overlap"));
        assert!(refused("UTC", "mon 09:00-09:00", &[]).contains("empty"));
        assert!(refused("UTC", "mon 25:00-26:00", &[]).contains("not a time"));
        assert!(refused("UTC", "24/7", &["25/12/2026"]).contains("not a date"));
        assert!(BusinessHours::parse("UTC", "", &[]).unwrap().is_always());
        // Holidays make even round-the-clock hours close on those days.
        let hours = BusinessHours::parse("UTC", "24/7", &["2026-12-25".into()]).unwrap();
        assert!(!hours.is_always() && !hours.is_open(utc(2026, 12, 25, 12, 0)));
        assert_eq!(hours.next_open(utc(2026, 12, 25, 12, 0)), utc(2026, 12, 26, 0, 0));
    }

    fn zones() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("Europe/London"),
            Just("America/New_York"),
            Just("Australia/Lord_Howe"), // a half-hour DST shift
            Just("Asia/Kolkata"),
            Just("UTC"),
        ]
    }

    fn hour_specs() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("mon-fri 09:00-17:00"),
            Just("mon-fri 08:00-12:00,13:00-18:00; sat 10:00-14:00"),
            Just("mon-sun 01:30-03:30"), // crosses DST gaps and repeats
            Just("fri 22:00-06:00; sun 23:00-01:00"),
            Just("24/7"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Adding working time and measuring it back agree, the result is never earlier than
        /// calendar time would give, and more working time never ends sooner.
        #[test]
        fn business_time_arithmetic_is_consistent(
            zone in zones(),
            spec in hour_specs(),
            holiday_offsets in proptest::collection::vec(0i64..60, 0..4),
            start_secs in 1_767_225_600i64..1_830_297_600, // 2026-01-01 .. 2028-01-01
            minutes in 0i64..5_000,
            more in 0i64..600,
        ) {
            let start = DateTime::from_timestamp(start_secs, 0).unwrap();
            let holidays: Vec<String> = holiday_offsets
                .iter()
                .map(|d| (start.date_naive() + TimeDelta::days(*d)).format("%Y-%m-%d").to_string())
                .collect();
            let hours = BusinessHours::parse(zone, spec, &holidays).unwrap();
            let duration = TimeDelta::minutes(minutes);
            let due = hours.add(start, duration);
            prop_assert!(due >= start + duration);
            prop_assert_eq!(hours.open_between(start, due), duration);
            prop_assert!(hours.add(start, duration + TimeDelta::minutes(more)) >= due);
            // Due inside working time (or at the end of a period), never on a holiday's interior.
            if minutes > 0 {
                prop_assert!(hours.is_open(due - TimeDelta::seconds(1)));
            }
            let open = hours.next_open(start);
            prop_assert!(open >= start && hours.is_open(open));
            prop_assert_eq!(hours.open_between(start, open), TimeDelta::zero());
        }
    }
}
