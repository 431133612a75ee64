## Dates (src/i18n.rs, Tr::date)
# A calendar day. $day: day, $dd: two-digit day, $month: month (1–12), $mm: two-digit month,
# $month_name: the month's name (month-N below), $year: year.
date-format = { $day } { $month_name } { $year }

month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
