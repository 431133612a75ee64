## Tarihler (src/i18n.rs, Tr::date)
# Bir takvim günü. $day: gün, $dd: iki haneli gün, $month: ay (1–12), $mm: iki haneli ay,
# $month_name: ayın adı (aşağıdaki month-N), $year: yıl.
date-format = { $dd }.{ $mm }.{ $year }

month-1 = Ocak
month-2 = Şubat
month-3 = Mart
month-4 = Nisan
month-5 = Mayıs
month-6 = Haziran
month-7 = Temmuz
month-8 = Ağustos
month-9 = Eylül
month-10 = Ekim
month-11 = Kasım
month-12 = Aralık
