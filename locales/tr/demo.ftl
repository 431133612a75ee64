## Demo mağaza (src/demo/mod.rs, templates/demo/*.html). Diğer demo-* metinleri main.ftl'de.

# Bu dilin kendi dilindeki adı: öteki dildeki sayfanın dil bağlantısında gösterilir.
demo-language-name = Türkçe

demo-product-kazak = El örgüsü yün kazak
demo-product-kahve = Türk kahvesi, 250 g
demo-product-kitap = Kitap: Kürk Mantolu Madonna

# Mağazadan Kapı'ya giden imzalı formun sayfası.
demo-redirect-title = Ödeme sayfasına yönlendiriliyorsunuz
demo-redirect-text = Kapı güvenli ödeme sayfası açılıyor. Açılmazsa düğmeye basın.

# Bildirim tablosunun sütunları.
demo-col-via = Kanal
demo-col-order = Sipariş no
demo-col-status = Durum
demo-col-amount = Tutar
demo-col-signature = İmza

demo-result-fields = Kapı'nın gönderdiği imzalı alanlar

demo-error-unknown-product = Böyle bir ürün yok.
demo-error-sign = Ödeme formu imzalanamadı.
# $status: HTTP durumu, $detail: Kapı'nın yanıtı
demo-error-refused = Kapı ödeme oturumunu açmadı ({ $status }): { $detail }
# $detail: bağlantı hatası
demo-error-unreachable = Kapı'ya ulaşılamadı: { $detail }
demo-error-no-url = Kapı ödeme oturumunun adresini göndermedi.

# Bildirim listesi ve API görünümü.
# $shown: gösterilen, $count: alınan bildirim sayısı
demo-callbacks-latest = Alınan { $count } bildirimin en yeni { $shown } tanesi:
demo-api-view = API'de görüntüle
demo-api-title = Siparişin Kapı API'sindeki kaydı
demo-api-intro = Mağazanın sunucusu, Kapı'nın API'sine kendi anahtarıyla şunu sordu; yanıt olduğu gibi aşağıda.
demo-api-status = HTTP durumu
demo-api-answer = API yanıtı
demo-view-payment = Bu ödemeyi API'de görüntüle
