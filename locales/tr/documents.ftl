## Ön Bilgilendirme Formu ve Mesafeli Satış Sözleşmesi
## (templates/documents/*.html; sürüm: src/checkout/documents.rs TEMPLATE_VERSION)
##
## Metni değiştirdiğinizde TEMPLATE_VERSION'ı artırın: onay kayıtları, gösterilen metnin
## SHA-256'sını ve sürümünü saklar.
##
## Değişkenler (siparişin verileri, boşsa "—"):
##   $seller_title $seller_address $seller_phone $seller_email $seller_mersis $seller_website
##   $buyer_name $buyer_email $buyer_phone $order_id $description $amount $installment
##   $order_date $payment_method $platform

## Ortak
# Boş bir alanın yerine gösterilir.
legal-none = —
legal-goods-default = Sipariş sayfasında belirtilen ürün/hizmet
# Çeviri notu; Türkçe metin asıl metindir, bu yüzden burada boş.
legal-translation-note = { "" }
legal-seller-title = Unvan:
legal-seller-mersis = MERSİS numarası:
legal-address = Adres:
legal-phone = Telefon:
legal-email = E-posta:
legal-website = Web sitesi:
legal-order-id = Sipariş numarası:
legal-order-date = Sipariş tarihi:
legal-goods = Ürün/hizmet:
legal-total = Toplam bedel (tüm vergiler dâhil):
legal-payment-method = Ödeme yöntemi:
legal-installment = Taksit:
# Taksit satırı: alıcı taksit sayısını ödeme sayfasında seçebildiğinde.
legal-installment-choice = Tek çekim ya da ödeme sayfasında seçeceğiniz taksit sayısı

## Ön Bilgilendirme Formu
preinfo-title = Ön Bilgilendirme Formu
preinfo-intro = Bu form, 6502 sayılı Tüketicinin Korunması Hakkında Kanun ve Mesafeli Sözleşmeler Yönetmeliği uyarınca, ödeme yükümlülüğü altına girmeden önce sizi siparişiniz hakkında bilgilendirmek amacıyla hazırlanmıştır.

preinfo-summary-title = Özet: ödemeden önce bilmeniz gerekenler
preinfo-summary-payment = Ödeme şekli:
preinfo-summary-payment-value = { $payment_method }, { $installment }
preinfo-summary-withdrawal = Cayma hakkı:
preinfo-summary-withdrawal-text = Malın teslim alındığı, hizmetlerde ise sözleşmenin kurulduğu tarihten itibaren 14 gün içinde, hiçbir gerekçe göstermeden ve cezai şart ödemeden sözleşmeden cayabilirsiniz. Bu hakkın kullanılamayacağı hâller aşağıda 6. bölümde sayılmıştır.

preinfo-seller-heading = 1. Satıcı bilgileri
preinfo-seller-contact = Cayma bildirimleriniz ile talep ve şikâyetleriniz için yukarıdaki adres ve iletişim bilgileri geçerlidir.

preinfo-order-heading = 2. Siparişin konusu ve temel nitelikleri
preinfo-order-details = Ürün veya hizmetin adet, model, renk, süre ve benzeri ayrıntılı nitelikleri, Satıcı’nın sipariş sayfasında belirtildiği gibidir.

preinfo-price-heading = 3. Fiyat ve ödeme
preinfo-price-total = Toplam bedel (KDV dâhil tüm vergiler dâhil):
# Alıcı taksit seçemediğinde (tek çekim ya da satıcının belirlediği taksit sayısı).
preinfo-price-text = Teslimat masrafı varsa toplam bedele dâhildir. Bu sipariş için yukarıdaki toplam bedel dışında kartınızdan ek bir tutar tahsil edilmez. Taksitli ödemelerde taksitler, kartınızı çıkaran kuruluş tarafından hesap özetinize yansıtılır.
# Alıcı taksit sayısını ödeme sayfasında seçebildiğinde (vade farkı olabilir).
preinfo-price-text-installments = Teslimat masrafı varsa toplam bedele dâhildir. Tek çekim ödemede bu sipariş için yukarıdaki toplam bedel dışında kartınızdan ek bir tutar tahsil edilmez. Taksitli ödemede, ödeme sayfasındaki taksit tablosunda seçtiğiniz seçenek için gösterilen vade farkı (varsa) toplam bedele eklenir; kartınızdan tahsil edilecek toplam tutar o seçeneğin satırında gösterilir. Taksitler, kartınızı çıkaran kuruluş tarafından hesap özetinize yansıtılır.

preinfo-delivery-heading = 4. Teslimat ve ifa
preinfo-delivery-text = Ürün veya hizmet, Satıcı’nın sipariş sayfasında belirttiği teslimat koşullarına göre, siparişte bildirdiğiniz adrese ya da dijital ürün ve hizmetlerde kararlaştırılan yöntemle teslim edilir. Sipariş sayfasında daha kısa bir süre belirtilmedikçe teslimat, siparişin Satıcı’ya ulaştığı tarihten itibaren yasal azami süre olan 30 gün içinde yapılır. Bu süre içinde teslimat yapılmazsa sözleşmeyi feshedebilirsiniz.
preinfo-delivery-impossible = Satıcı, siparişin ifasının imkânsızlaştığını öğrenirse bunu 3 gün içinde size bildirir ve tahsil edilen tüm ödemeleri en geç 14 gün içinde iade eder.

preinfo-withdrawal-heading = 5. Cayma hakkı
preinfo-withdrawal-period = Süre:
preinfo-withdrawal-period-text = 14 gün. Bu süre içinde hiçbir gerekçe göstermeden ve cezai şart ödemeden sözleşmeden cayabilirsiniz.
preinfo-withdrawal-start = Başlangıç:
preinfo-withdrawal-start-text = Mallarda, malın size veya belirttiğiniz üçüncü kişiye (taşıyıcı hariç) teslim edildiği gün; ayrı ayrı teslim edilen birden fazla malda son malın teslim edildiği gün; hizmetlerde sözleşmenin kurulduğu gün. Cayma hakkını malın tesliminden önce de kullanabilirsiniz.
preinfo-withdrawal-how = Nasıl kullanılır:
preinfo-withdrawal-how-text = Süre dolmadan, 1. bölümdeki adrese yazılı olarak ya da e-posta adresine kalıcı veri saklayıcısı aracılığıyla açık bir bildirim göndermeniz yeterlidir. Bildiriminizde sipariş numarasını belirtmeniz işlemi kolaylaştırır.
preinfo-withdrawal-return = Malın geri gönderilmesi:
preinfo-withdrawal-return-text = Mal, cayma bildiriminden itibaren 10 gün içinde Satıcı’ya geri gönderilir. Satıcı’nın iade için belirlediği taşıyıcıyla yapılan gönderimlerde iade masrafı Satıcı’ya aittir; ayıplı mallarda iade masrafı hiçbir durumda sizden istenemez.
preinfo-withdrawal-refund = Para iadesi:
preinfo-withdrawal-refund-text = Satıcı, cayma bildiriminin kendisine ulaştığı tarihten itibaren en geç 14 gün içinde, teslimat masrafları dâhil tahsil ettiği tüm ödemeleri, ödemede kullanılan yöntemle ve size herhangi bir masraf yüklemeden iade eder. Taksitli ödemelerde iade, kartınızı çıkaran kuruluşun uygulamasına göre hesabınıza yansıtılır.
preinfo-withdrawal-use = Cayma süresi içinde malın işleyişine, teknik özelliklerine ve kullanım talimatlarına uygun kullanılmasından doğan değişiklik ve bozulmalardan sorumlu değilsiniz.

preinfo-exceptions-heading = 6. Cayma hakkının kullanılamayacağı hâller
preinfo-exceptions-intro = Mesafeli Sözleşmeler Yönetmeliği’nin 15. maddesi uyarınca, başlıca aşağıdaki sözleşmelerde cayma hakkı kullanılamaz:
preinfo-exception-1 = Fiyatı finansal piyasalardaki dalgalanmalara bağlı olan ve Satıcı’nın kontrolünde olmayan mal veya hizmetler;
preinfo-exception-2 = Alıcının istekleri veya kişisel ihtiyaçları doğrultusunda hazırlanan, kişiye özel mallar;
preinfo-exception-3 = Çabuk bozulabilen veya son kullanma tarihi geçebilecek mallar;
preinfo-exception-4 = Tesliminden sonra ambalajı, bandı, mührü veya paketi açılmış olup iadesi sağlık ve hijyen açısından uygun olmayan mallar;
preinfo-exception-5 = Tesliminden sonra başka ürünlerle karışan ve doğası gereği ayrıştırılamayan mallar;
preinfo-exception-6 = Koruyucu unsurları açılmış kitap, dijital içerik ve bilgisayar sarf malzemeleri ile abonelik dışındaki gazete ve dergi gibi süreli yayınlar;
preinfo-exception-7 = Belirli bir tarihte veya dönemde yapılması gereken konaklama, eşya taşıma, araç kiralama, yiyecek-içecek tedariki ve eğlence veya dinlenme amaçlı hizmetler;
preinfo-exception-8 = Elektronik ortamda anında ifa edilen hizmetler ile anında teslim edilen dijital içerik ve gayrimaddi mallar;
preinfo-exception-9 = Cayma süresi dolmadan, onayınızla ifasına başlanan hizmetler;
preinfo-exception-10 = Yönetmelikte sayılan diğer hâller.

preinfo-complaints-heading = 7. Şikâyet ve başvuru yolları
preinfo-complaints-text = Talep ve şikâyetlerinizi 1. bölümdeki iletişim bilgileri aracılığıyla Satıcı’ya iletebilirsiniz. Uyuşmazlık hâlinde, Ticaret Bakanlığınca her yıl ilan edilen parasal sınırlar dâhilinde yerleşim yerinizdeki veya tüketici işleminin yapıldığı yerdeki Tüketici Hakem Heyeti’ne, bu sınırları aşan uyuşmazlıklarda ise Tüketici Mahkemesi’ne başvurabilirsiniz. Tüketici Mahkemesi’nde dava açmadan önce arabulucuya başvurulması zorunludur.

preinfo-security-heading = 8. Ödeme güvenliği
preinfo-security-page = Ödeme sayfası:
preinfo-security-text = Ödemeniz, yukarıda adı geçen hizmetin güvenli ödeme sayfası üzerinden alınır. Kart bilgileriniz Satıcı ile paylaşılmaz ve Satıcı tarafından saklanmaz. İşlem sırasında kartınızı çıkaran banka ek doğrulama (3-D Secure) isteyebilir. Ödeme sayfası hizmeti bu satışın tarafı değildir; ürün veya hizmete ilişkin yükümlülükler Satıcı’ya aittir.
preinfo-security-confirm = Bu formu okuduğunuzu ödeme sayfasındaki onay kutusunu işaretleyerek teyit edersiniz. Formu tarayıcınızın yazdırma işleviyle saklayabilirsiniz.

## Mesafeli Satış Sözleşmesi
contract-title = Mesafeli Satış Sözleşmesi

contract-parties-heading = Madde 1 – Taraflar
contract-seller = Satıcı
contract-buyer = Alıcı
contract-buyer-name = Ad soyad:

contract-subject-heading = Madde 2 – Sözleşmenin konusu
contract-subject-text = Bu sözleşmenin konusu, Alıcı’nın Satıcı’dan elektronik ortamda sipariş ettiği aşağıdaki ürün veya hizmetin satışı ve teslimi ile ilgili olarak, 6502 sayılı Tüketicinin Korunması Hakkında Kanun ve Mesafeli Sözleşmeler Yönetmeliği uyarınca tarafların hak ve yükümlülüklerinin belirlenmesidir.
# Yalnızca alıcı taksit sayısını ödeme sayfasında seçebildiğinde gösterilir.
contract-subject-installments = Taksitli ödemede, ödeme sayfasındaki taksit tablosunda Alıcı’nın seçtiği seçenek için gösterilen vade farkı (varsa) toplam bedele eklenir; Alıcı’nın kartından tahsil edilecek toplam tutar o seçeneğin satırında gösterilir.

contract-general-heading = Madde 3 – Genel hükümler
contract-general-1 = Alıcı, ürün veya hizmetin temel nitelikleri, tüm vergiler dâhil satış fiyatı, ödeme şekli, teslimat koşulları ve cayma hakkı konusunda Ön Bilgilendirme Formu’nu okuyup bilgi sahibi olduğunu ve bu bilgilendirmeyi elektronik ortamda teyit ettiğini kabul eder.
contract-general-2 = Satıcı, ürün veya hizmeti siparişte belirtilen niteliklere uygun, eksiksiz ve ayıpsız olarak, varsa garanti belgesi ve kullanım kılavuzuyla birlikte teslim etmekle yükümlüdür.
contract-general-3 = Teslimat, Satıcı’nın sipariş sayfasında belirttiği koşullara göre, Alıcı’nın siparişte bildirdiği adrese veya dijital ürün ve hizmetlerde kararlaştırılan yöntemle yapılır. Daha kısa bir süre belirtilmedikçe teslimat, siparişin Satıcı’ya ulaştığı tarihten itibaren en geç 30 gün içinde gerçekleştirilir.
contract-general-4 = Satıcı, sözleşmenin ifasının imkânsızlaştığını öğrenirse bunu 3 gün içinde Alıcı’ya bildirir ve tahsil edilen tüm ödemeleri en geç 14 gün içinde iade eder.
contract-general-5 = Ürün veya hizmet bedelinin, kartı çıkaran kuruluş tarafından herhangi bir nedenle Satıcı’ya ödenmemesi ya da işlemin iptal edilmesi hâlinde Satıcı, teslim yükümlülüğünden kurtulur. Bu durumda bedeli ödenmeden teslim edilmiş bir ürün varsa Alıcı tarafından Satıcı’ya iade edilir.
contract-general-6 = Ayıplı mal veya hizmet hâlinde Alıcı’nın 6502 sayılı Kanun’dan doğan seçimlik hakları saklıdır.
contract-general-7 = Ödeme, güvenli ödeme sayfası üzerinden alınır (ödeme sayfası hizmeti: { $platform }). Kart bilgileri Satıcı ile paylaşılmaz. Ödeme sayfası hizmeti bu sözleşmenin tarafı değildir.

contract-withdrawal-heading = Madde 4 – Cayma hakkı
contract-withdrawal-right = Alıcı, malın kendisine veya gösterdiği üçüncü kişiye (taşıyıcı hariç) teslim edildiği, hizmetlerde ise sözleşmenin kurulduğu tarihten itibaren 14 gün içinde, hiçbir gerekçe göstermeden ve cezai şart ödemeden sözleşmeden cayma hakkına sahiptir. Ayrı ayrı teslim edilen birden fazla malda süre, son malın teslimiyle başlar. Alıcı, cayma hakkını malın tesliminden önce de kullanabilir.
contract-withdrawal-notice = Cayma bildirimi, süre dolmadan Madde 1’de yer alan Satıcı adresine yazılı olarak veya e-posta adresine kalıcı veri saklayıcısı aracılığıyla yapılır. Alıcı, malı bildirimden itibaren 10 gün içinde Satıcı’ya geri gönderir; Satıcı’nın iade için belirlediği taşıyıcıyla yapılan gönderimlerde iade masrafı Satıcı’ya aittir, ayıplı mallarda iade masrafı Alıcı’dan istenemez.
contract-withdrawal-refund = Satıcı, cayma bildiriminin kendisine ulaştığı tarihten itibaren en geç 14 gün içinde, teslimat masrafları dâhil tahsil ettiği tüm ödemeleri, ödemede kullanılan yöntemle ve Alıcı’ya masraf yüklemeden iade eder. Taksitli ödemelerde iade, kartı çıkaran kuruluşun uygulamasına göre yansıtılır.

contract-exceptions-heading = Madde 5 – Cayma hakkının istisnaları
contract-exceptions-intro = Mesafeli Sözleşmeler Yönetmeliği’nin 15. maddesinde sayılan hâllerde cayma hakkı kullanılamaz. Bunlar başlıca şunlardır:
contract-exception-1 = Alıcının istekleri veya kişisel ihtiyaçları doğrultusunda hazırlanan mallar;
contract-exception-2 = Çabuk bozulabilen veya son kullanma tarihi geçebilecek mallar;
contract-exception-3 = Tesliminden sonra koruyucu unsurları açılmış olup iadesi sağlık ve hijyen açısından uygun olmayan mallar;
contract-exception-4 = Koruyucu unsurları açılmış kitap, dijital içerik ve bilgisayar sarf malzemeleri;
contract-exception-5 = Belirli bir tarihte veya dönemde yapılması gereken konaklama, taşıma, araç kiralama, yiyecek-içecek ve eğlence hizmetleri;
contract-exception-6 = Elektronik ortamda anında ifa edilen hizmetler ve anında teslim edilen dijital içerik;
contract-exception-7 = Cayma süresi dolmadan Alıcı’nın onayıyla ifasına başlanan hizmetler.

contract-default-heading = Madde 6 – Temerrüt
contract-default-text = Taraflardan birinin yükümlülüğünü zamanında yerine getirmemesi hâlinde, diğer tarafın 6098 sayılı Türk Borçlar Kanunu ve 6502 sayılı Kanun’dan doğan hakları saklıdır. Alıcı, kartla yaptığı ödemelerde temerrüde düşmesi hâlinde, kartı çıkaran kuruluşla arasındaki kart sözleşmesi uyarınca bu kuruluşa faiz ödemekle yükümlü olabileceğini ve kuruluşa karşı sorumlu olduğunu kabul eder.

contract-records-heading = Madde 7 – Kayıtların saklanması
contract-records-text = Satıcı, bu sözleşmeye ilişkin ön bilgilendirme, teyit, sipariş ve cayma bildirimi kayıtlarını Mesafeli Sözleşmeler Yönetmeliği’nin 20. maddesi uyarınca 3 yıl süreyle saklar. Bu kayıtlar uyuşmazlık hâlinde delil olarak kullanılabilir.

contract-disputes-heading = Madde 8 – Uyuşmazlıkların çözümü
contract-disputes-text = Bu sözleşmeden doğan uyuşmazlıklarda, Ticaret Bakanlığınca her yıl ilan edilen parasal sınırlar dâhilinde Alıcı’nın yerleşim yerindeki veya tüketici işleminin yapıldığı yerdeki Tüketici Hakem Heyeti, bu sınırları aşan uyuşmazlıklarda Tüketici Mahkemesi yetkilidir. Tüketici Mahkemesi’nde dava açmadan önce arabulucuya başvurulması zorunludur.

contract-effect-heading = Madde 9 – Yürürlük
contract-effect-text = Bu sözleşme, Alıcı’nın ödeme sayfasında sözleşmeyi elektronik olarak onaylamasıyla kurulur ve yürürlüğe girer. Alıcı, onay vermeden önce sözleşmenin tüm hükümlerini okuyup anladığını kabul eder.
